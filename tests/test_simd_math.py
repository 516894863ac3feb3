"""Accuracy of the vectorisable asin/acos of simd_math.hpp (≤ 2 ulp, MATH §2.2 needs arccos)."""
import numpy as np

from fastntk import _core


def test_acos_asin_double():
    x = np.concatenate([np.linspace(-1, 1, 200001), [-1.0, -0.5, 0.0, 0.5, 1.0, np.nextafter(1.0, 0)],
                        1 - np.logspace(-16, -1, 200)])
    for ours, exact in ((_core.simd_acos(x), np.arccos(x)), (_core.simd_asin(x), np.arcsin(x))):
        ulp = np.spacing(np.abs(exact)).clip(min=np.finfo(float).tiny)
        assert np.max(np.abs(ours - exact) / ulp) <= 2.0


def test_acos_float():
    x = np.linspace(-1, 1, 100001).astype(np.float32)
    exact = np.arccos(x.astype(np.float64))
    err = np.abs(_core.simd_acos_f32(x).astype(np.float64) - exact) / np.spacing(np.float32(exact)).astype(np.float64)
    assert err.max() <= 2.0


def test_clamps_out_of_range():
    assert _core.simd_acos(np.array([1.0 + 1e-15]))[0] == 0.0
    assert _core.simd_acos(np.array([-1.0 - 1e-15]))[0] == np.float64(np.pi)


def test_exp_double():
    x = np.concatenate([np.linspace(-700, 700, 200001), np.linspace(-1, 1, 10001)])
    exact = np.exp(x)
    assert np.max(np.abs(_core.simd_exp(x) - exact) / np.spacing(exact)) <= 2.0
    assert _core.simd_exp(np.array([-1e6]))[0] < 1e-300 and np.isfinite(_core.simd_exp(np.array([1e6]))[0])


def test_sin_cos_double():
    x = np.concatenate([np.linspace(-1e5, 1e5, 400001), np.linspace(-7, 7, 20001)])
    for ours, exact in ((_core.simd_sin(x), np.sin(x)), (_core.simd_cos(x), np.cos(x))):
        assert np.max(np.abs(ours - exact)) <= 2 * np.finfo(float).eps
