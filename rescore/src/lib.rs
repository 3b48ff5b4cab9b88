//! `edgeserve rescore`: replay logged production traffic through a
//! candidate component and compare its answers and latency with what was
//! logged.
//!
//! - `report`: what a run found ([`RescoreReport`]), the data behind the
//!   terminal table, the JSON (`--json`) and the HTML report;
//! - `replay`: the replay itself ([`rescore`]) and the terminal table;
//! - `html`: the self-contained HTML report ([`render`]), written with maud
//!   templates, one module per part of the page, charts drawn as inline SVG.

mod html;
mod replay;
mod report;

use edgeserve_node::telemetry;
use edgeserve_oip::{protocol, tensor};
use edgeserve_runtime as runtime;
use edgeserve_runtime::{limits, repository};

pub use html::render;
pub use replay::{RescoreError, RescoreOptions, histogram, rescore, summarize, table};
pub use report::*;
