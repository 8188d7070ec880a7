import numpy as np
import pytest

from mapds.irf.weighted_mean import exposure_weighted_mean


def _one_operation_at_a_time(irf, exposure, irf_other, exposure_other, weights, exposure_sum, nan_to_num):
    other = np.nan_to_num(irf_other) if nan_to_num else irf_other
    with np.errstate(divide="ignore", invalid="ignore"):
        value = (irf * exposure + other * exposure_other * weights) / exposure_sum
    value = np.where(np.broadcast_to(exposure_sum == 0, value.shape), np.nan, value)
    return np.nan_to_num(value)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("nan_to_num", [True, False])
@pytest.mark.parametrize("weighted", [True, False])
def test_exposure_weighted_mean_is_the_expression_bit_for_bit(dtype, nan_to_num, weighted):
    rng = np.random.default_rng(1)
    shape, small = (3, 4, 5, 6), (3, 1, 5, 6)
    irf = rng.uniform(0, 2, shape).astype(dtype)
    irf_other = rng.uniform(0, 2, shape).astype(dtype)
    irf_other[0, 0, 0, :3] = [np.nan, np.inf, -np.inf]
    exposure = rng.uniform(0, 1e9, small).astype("float32")
    exposure_other = rng.uniform(0, 1e9, small).astype("float32")
    exposure[1, 0, 2, :] = exposure_other[1, 0, 2, :] = 0  # stacked exposure zero: result 0
    weights = rng.uniform(size=small) > 0.3 if weighted else 1
    exposure_sum = exposure + exposure_other * (np.any(weights, axis=1, keepdims=True) if weighted else 1)
    irf_copy = irf_other.copy()

    got = exposure_weighted_mean(
        irf, exposure, irf_other, exposure_other, weights, exposure_sum, nan_to_num=nan_to_num
    )
    expected = _one_operation_at_a_time(
        irf, exposure, irf_other, exposure_other, weights, exposure_sum, nan_to_num
    )
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
    assert np.isfinite(got).all() and (got[1, :, 2] == 0).all()
    np.testing.assert_array_equal(irf_other, irf_copy)  # inputs untouched
    assert (
        exposure_weighted_mean(
            irf, exposure, irf_other, exposure_other, weights, exposure_sum, result_dtype="float32"
        ).dtype
        == np.float32
    )
