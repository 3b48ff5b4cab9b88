//! Admit: a request enters the pipeline. Its trace begins (when traced)
//! and its memory account opens against the server's, its connection's
//! and its client address's budgets (the tenant's joins once the caller is
//! known); and the trace is finished, whatever the outcome, when it
//! leaves.

use opentelemetry::KeyValue;

use super::{ApiError, Flight, Inbound, Pipeline, RequestMemory};

impl Pipeline {
    /// Takes a request in.
    pub(super) fn admit<'a>(&'a self, inbound: Inbound<'a>) -> Flight<'a> {
        Flight {
            memory: self.request_memory(inbound.conn),
            trace: self.tracing.as_ref().map(|t| t.begin(inbound.headers)),
            inbound,
            version: None,
            request_id: None,
        }
    }

    /// The memory a new request will hold, counted against the server's,
    /// its connection's and its client address's budgets (its tenant's
    /// joins once the route stage knows the tenant).
    fn request_memory<'a>(&'a self, conn: Option<&'a super::ConnInfo>) -> RequestMemory<'a> {
        RequestMemory::new(
            &self.memory,
            conn.map(|c| &c.budget),
            conn.and_then(|c| c.peer_budget.as_deref()),
            None,
            self.limits.budget_wait,
        )
    }

    /// Finishes the request's trace (exported when sampled).
    pub(super) fn finish<R>(&self, flight: Flight<'_>, result: &Result<R, ApiError>) {
        let (Some(t), Some(trace)) = (&self.tracing, flight.trace) else {
            return;
        };
        let status = match result {
            Ok(_) => 200,
            Err(e) => e.status.as_u16(),
        };
        let route = flight.inbound.route;
        let mut attrs = vec![
            KeyValue::new("http.request.method", "POST"),
            KeyValue::new("http.route", route),
            KeyValue::new("http.response.status_code", i64::from(status)),
            KeyValue::new("edgeserve.model", flight.inbound.model.to_string()),
        ];
        if let Some(v) = flight.version {
            attrs.push(KeyValue::new("edgeserve.version", v));
        }
        if let Some(id) = flight.request_id {
            attrs.push(KeyValue::new("edgeserve.request_id", id));
        }
        t.finish(trace, route, attrs);
    }
}
