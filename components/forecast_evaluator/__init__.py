"""ForecastEvaluator: NRMSE and MAE over the horizon of a forecaster's served signature, beside persistence's."""
