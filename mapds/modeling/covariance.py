"""Parameter covariance matrices and the ``<models>_covariance.dat`` files gammapy writes.

A `Covariance` pairs a `Parameters` list with a square matrix.  Models keep the diagonal in
step with the parameter errors: reading a model's covariance fills the diagonal with
``error²``, setting it sets ``error = sqrt(diagonal)``.  Models made of several components
(`SkyModel`, `CompoundSpectralModel`, `Models`) stack the covariances of their components
(`CovarianceMixin`).
"""

from __future__ import annotations

import io

import numpy as np
from astropy.table import Table

from ..errors import CorruptFileError, ModelError
from .parameter import Parameters

__all__ = ["Covariance", "CovarianceMixin", "read_covariance_table", "write_covariance_table"]

#: astropy Table format of covariance files (gammapy's choice).
COVARIANCE_FORMAT = {"format": "ascii.fixed_width", "delimiter": "|"}


class Covariance:
    """Covariance matrix of a list of parameters.

    Parameters
    ----------
    parameters : `~mapds.modeling.Parameters`
        The parameters, in matrix order.
    data : array-like, optional
        ``(n, n)`` matrix; by default the diagonal of squared parameter errors.
    """

    def __init__(self, parameters: Parameters, data=None):
        self.parameters = parameters
        if data is None:
            data = np.diag([par.error**2 for par in parameters])
        self._data = np.array(data, dtype=float).reshape(self.shape)

    @property
    def shape(self) -> tuple[int, int]:
        """``(n, n)``."""
        return len(self.parameters), len(self.parameters)

    @property
    def data(self) -> np.ndarray:
        """The matrix."""
        return self._data

    @data.setter
    def data(self, value) -> None:
        value = np.asarray(value, dtype=float)
        if value.shape != self.shape:
            raise ModelError(
                f"Invalid covariance shape {value.shape}, expected {self.shape} for parameters "
                f"{self.parameters.names}"
            )
        self._data = value

    @classmethod
    def from_stack(cls, covariances) -> Covariance:
        """Block-diagonal covariance of several covariances."""
        parameters = Parameters.from_stack([c.parameters for c in covariances])
        out = cls(parameters)
        for covariance in covariances:
            out.set_subcovariance(covariance)
        return out

    @classmethod
    def from_factor_matrix(cls, parameters: Parameters, matrix: np.ndarray) -> Covariance:
        """Covariance of the values from the covariance of the free, unique parameter factors.

        Rows and columns of frozen or repeated parameters are zero.
        """
        n = len(parameters)
        if n == 0:
            return cls(parameters)
        if matrix.shape != (n, n):
            first = [parameters.index(par) for par in parameters]
            fitted = np.array([not par.frozen and first[idx] == idx for idx, par in enumerate(parameters)])
            expanded = np.zeros((n, n))
            expanded[np.ix_(fitted, fitted)] = matrix
            matrix = expanded
        jacobian = np.diag([par.inverse_transform_derivative(par.factor) for par in parameters])
        return cls(parameters, data=jacobian.T @ matrix @ jacobian)

    def _indices(self, parameters) -> list[int]:
        return [self.parameters.index(par) for par in parameters]

    def get_subcovariance(self, parameters) -> Covariance:
        """Covariance of a subset of the parameters (objects or names)."""
        if not isinstance(parameters, Parameters):
            parameters = Parameters([self.parameters[p] for p in parameters])
        idx = self._indices(parameters)
        return type(self)(parameters, data=self._data[np.ix_(idx, idx)])

    def set_subcovariance(self, covariance: Covariance) -> None:
        """Copy a sub-covariance in; if it changed, its rows and columns are cleared first."""
        idx = self._indices(covariance.parameters)
        block = np.ix_(idx, idx)
        if not np.allclose(self._data[block], covariance.data):
            self._data[idx, :] = 0
            self._data[:, idx] = 0
        self._data[block] = covariance.data

    @property
    def correlation(self) -> np.ndarray:
        """Correlation matrix ``C_ij / sqrt(C_ii C_jj)`` (0 where undefined)."""
        sigma = np.sqrt(np.diag(self._data))
        with np.errstate(invalid="ignore", divide="ignore"):
            correlation = self._data / np.outer(sigma, sigma)
        return np.nan_to_num(correlation)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return np.asarray(self._data, dtype=dtype)

    def __str__(self) -> str:
        return str(self._data)


class CovarianceMixin:
    """``covariance`` of an object made of sub-models listed in ``_models``."""

    def _check_covariance(self) -> None:
        covariance = getattr(self, "_covariance", None)
        if covariance is None or not self.parameters == covariance.parameters:
            self._covariance = Covariance.from_stack([model.covariance for model in self._models])

    @property
    def covariance(self) -> Covariance:
        """Covariance of all parameters, in :attr:`parameters` order."""
        self._check_covariance()
        for model in self._models:
            self._covariance.set_subcovariance(model.covariance)
        return self._covariance

    @covariance.setter
    def covariance(self, value) -> None:
        self._check_covariance()
        self._covariance.data = value.data if isinstance(value, Covariance) else value
        for model in self._models:
            model.covariance = self._covariance.get_subcovariance(model.covariance.parameters)


def write_covariance_table(names: list[str], data: np.ndarray) -> str:
    """A covariance matrix as text, as gammapy writes it (fixed-width, ``|``-delimited).

    Columns are ``Parameters`` (one row per name) and ``0`` … ``n−1``.
    """
    table = Table()
    table["Parameters"] = names
    for idx in range(len(names)):
        table[str(idx)] = data[idx]
    buffer = io.StringIO()
    table.write(buffer, **COVARIANCE_FORMAT)
    return buffer.getvalue()


def read_covariance_table(text: str, source: str = "covariance file") -> np.ndarray:
    """The matrix held by covariance-file text (written by mapds or gammapy)."""
    try:
        table = Table.read(text.splitlines(), **COVARIANCE_FORMAT)
        table.remove_column("Parameters")
        return np.array([list(row) for row in table], dtype=float).reshape(len(table), -1)
    except (KeyError, ValueError, TypeError) as exc:
        raise CorruptFileError(f"{source} cannot be read as a covariance table: {exc}") from exc
