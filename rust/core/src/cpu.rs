//! Run-time CPU feature detection for the hot loops' multiversioned copies.

/// Whether the CPU supports x86-64-v3 (AVX2, FMA, BMI1/2, LZCNT, POPCNT). The answer is cached by
/// the standard library after the first call.
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn has_x86_64_v3() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
        && std::arch::is_x86_feature_detected!("bmi1")
        && std::arch::is_x86_feature_detected!("bmi2")
        && std::arch::is_x86_feature_detected!("lzcnt")
        && std::arch::is_x86_feature_detected!("popcnt")
}

/// Always false off x86-64 (the portable loops are used).
#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub fn has_x86_64_v3() -> bool {
    false
}

/// Whether the CPU supports x86-64-v4 (v3 plus AVX-512 F, BW, CD, DQ and VL). Cached like
/// [`has_x86_64_v3`].
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn has_x86_64_v4() -> bool {
    has_x86_64_v3()
        && std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512cd")
        && std::arch::is_x86_feature_detected!("avx512dq")
        && std::arch::is_x86_feature_detected!("avx512vl")
}

/// Always false off x86-64.
#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub fn has_x86_64_v4() -> bool {
    false
}
