//! What edgeserve records about the traffic it serves: the prediction log
//! (sampled inference records, written off the request path).

mod predlog;

pub use predlog::{LogSettings, PredictionLog, PredictionLogConfig, Record, read_log, sampled};
