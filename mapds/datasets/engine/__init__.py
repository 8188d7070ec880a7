"""The npred and statistic engine of map datasets: graphs of pure tasks, caches held by the client.

- :mod:`.lookup`: where a model is evaluated and which IRF pixels and data boxes its tasks read
  (known from geometry alone, so building graphs reads nothing);
- :mod:`.model_npred`: the pure numpy steps of a model's predicted counts;
- :mod:`.tasks`: the model tasks (lookups, cutout evaluation, norm rescaling, global chunks);
- :mod:`.evaluator`: `MapEvaluator`, which builds those tasks and keeps what the client learnt
  from earlier computations (lookups, cutouts, spatial integrals);
- :mod:`.npred_graph`: a dataset's predicted counts per chunk (background × FoV norm + cutouts);
- :mod:`.stat_tiles` and :mod:`.stat_sum`: the Cash statistic over tiles, recomputed only where
  something changed.
"""
