"""Models, parameters and their gammapy YAML serialisation."""
