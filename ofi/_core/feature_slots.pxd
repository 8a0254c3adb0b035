# Generated from ofi/features/registry.py by
#     python -m ofi.features --slots > ofi/_core/feature_slots.pxd
# Do not edit: tests/unit/test_features.py fails when this file and the registry disagree.
# out[F_<SLOT>] is the feature whose FeatureSpec.slot is <SLOT>; the ids do not depend on the
# configuration (feature names do). Member i of a group <STEM> (first member <STEM><j>) is at
# F_<STEM><j> + i, or F_<STEM><j> + i * <STEM>_STRIDE where two groups alternate.

cdef enum:
    F_MID_PRICE = 0
    F_SPREAD_TICKS = 1
    F_SPREAD_BPS = 2
    F_MICROPRICE_OFFSET_BPS = 3
    F_DEPTH_BID_K1 = 4
    F_DEPTH_ASK_K1 = 5
    F_DEPTH_BID_K2 = 6
    F_DEPTH_ASK_K2 = 7
    F_DEPTH_BID_K3 = 8
    F_DEPTH_ASK_K3 = 9
    F_DEPTH_IMBALANCE_K1 = 10
    F_DEPTH_IMBALANCE_K2 = 11
    F_DEPTH_IMBALANCE_K3 = 12
    F_BOOK_SLOPE_BID = 13
    F_BOOK_SLOPE_ASK = 14
    F_BOOK_SLOPE_LOG_RATIO = 15
    F_VAMP_OFFSET_BPS = 16
    F_WEIGHTED_MID_OFFSET_BPS = 17
    F_LEVEL_GAP_BID_TICKS = 18
    F_LEVEL_GAP_ASK_TICKS = 19
    F_OFI_H0 = 20
    F_OFI_H1 = 21
    F_OFI_H2 = 22
    F_OFI_H3 = 23
    F_OFI_LAST = 24
    F_OFI_CUMULATIVE = 25
    F_OFI_ZSCORE_H0 = 26
    F_OFI_ZSCORE_H1 = 27
    F_OFI_NORMALIZED_H1 = 28
    F_MLOFI_H1 = 29
    F_MLOFI_NORMALIZED_H1 = 30
    F_INTEGRATED_OFI_H1 = 31
    F_SIGNED_VOLUME_H0 = 32
    F_SIGNED_VOLUME_H1 = 33
    F_SIGNED_VOLUME_H2 = 34
    F_TRADE_IMBALANCE_H1 = 35
    F_TRADE_IMBALANCE_H2 = 36
    F_TRADE_COUNT_H1 = 37
    F_TRADE_COUNT_H2 = 38
    F_TRADE_INTENSITY_H1 = 39
    F_MEAN_TRADE_SIZE_H2 = 40
    F_LARGE_TRADE_FLAG = 41
    F_VWAP_DEVIATION_BPS_H2 = 42
    F_LAST_TRADE_OFFSET_BPS = 43
    F_TIME_SINCE_TRADE_S = 44
    F_VPIN = 45
    F_VPIN_CDF = 46
    F_KYLE_LAMBDA = 47
    F_KYLE_LAMBDA_T = 48
    F_AMIHUD = 49
    F_ROLL_SPREAD_TICKS = 50
    F_TOXICITY_INDEX = 51
    F_REALIZED_VOL_H1 = 52
    F_REALIZED_VOL_H2 = 53
    F_REALIZED_VOL_H3 = 54
    F_PARKINSON_VOL = 55
    F_MID_RETURN_H0 = 56
    F_MID_RETURN_H1 = 57
    F_MID_RETURN_H2 = 58
    F_MID_RETURN_H3 = 59
    F_SPREAD_ZSCORE = 60
    F_SPREAD_CHANGE = 61
    F_SPREAD_CHANGE_H1 = 62
    F_SPREAD_MEAN_RATIO = 63
    F_EMA_CROSSOVER_BPS = 64
    F_RSI = 65
    F_BOLLINGER_POSITION = 66
    F_MOMENTUM_SHORT_BPS = 67
    F_MOMENTUM_LONG_BPS = 68
    F_MESSAGE_RATE_H1 = 69
    F_BOOK_UPDATE_RATE_H1 = 70
    F_LEVEL_UPDATE_RATE_H1 = 71
    F_FEED_LATENCY_MS = 72
    F_FEED_LATENCY_MEAN_MS_H2 = 73
    F_TIME_SINCE_BOOK_S = 74
    N_FEATURES = 75

# group sizes (and strides)
cdef enum:
    N_DEPTH_BID_K = 3
    DEPTH_BID_K_STRIDE = 2
    N_DEPTH_ASK_K = 3
    DEPTH_ASK_K_STRIDE = 2
    N_DEPTH_IMBALANCE_K = 3
    N_OFI_H = 4
    N_OFI_ZSCORE_H = 2
    N_SIGNED_VOLUME_H = 3
    N_TRADE_IMBALANCE_H = 2
    N_TRADE_COUNT_H = 2
    N_REALIZED_VOL_H = 3
    N_MID_RETURN_H = 4
