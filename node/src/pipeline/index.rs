//! Which models a caller may see: the data plane's model index
//! (`GET /v2/models`, and Triton's `POST /v2/repository/index`) and the
//! suggestions in an unknown model's answer. Filtered by the rules
//! inference applies (a model's identity requirement, the caller's tenant),
//! with nothing charged or audited: a caller never learns a name it could
//! not call, and policies are never listed.

use super::{ApiError, ConnInfo, Pipeline};
use crate::registry::{ModelEntry, ModelRules, ModelTable, RouteError};
use crate::repository::Kind;
use crate::security::{AuthMethod, Identity, TenantOf};

/// Most names an unknown model's answer lists.
const MAX_LISTED: usize = 10;
/// Longest name (in characters) compared for a "did you mean": the
/// comparison costs the product of the two lengths, and the name comes
/// from the URL.
const MAX_COMPARED: usize = 64;

/// One model in the index (serialized as `GET /v2/models` lists it).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct IndexEntry {
    /// Model name.
    pub name: String,
    /// The versions callable by URL on this server (`[server]
    /// version_pinning`), ascending.
    pub versions: Vec<String>,
    /// The version that answers unversioned requests.
    pub primary: Option<String>,
}

impl Pipeline {
    /// The models the caller (credentials in `headers`, the connection's
    /// certificate) may call, by name. Where the server requires an
    /// identity, an anonymous caller gets a 401 as for any model.
    pub fn index(
        &self,
        headers: &http::HeaderMap,
        conn: Option<&ConnInfo>,
    ) -> Result<Vec<IndexEntry>, ApiError> {
        let identity = self.authenticate(headers, conn, "-")?;
        if self.auth.required && identity.method == AuthMethod::Anonymous {
            return Err(self.unknown(&identity, RouteError::UnknownModel(String::new())));
        }
        let table = self.registry.snapshot();
        Ok(self
            .visible(&table, &identity)
            .map(|(name, e)| IndexEntry {
                name: name.clone(),
                versions: self.registry.addressable(e),
                primary: e.primary_version().map(|v| v.to_string()),
            })
            .collect())
    }

    /// The models of `table` that `identity` may call.
    fn visible<'t>(
        &'t self,
        table: &'t ModelTable,
        identity: &'t Identity,
    ) -> impl Iterator<Item = (&'t String, &'t ModelEntry)> + 't {
        table.models.iter().filter(move |(name, e)| {
            e.rules.kind == Kind::Model && self.may_see(identity, name, &e.rules)
        })
    }

    /// Whether `identity` would be admitted to `name` (quota aside).
    fn may_see(&self, identity: &Identity, name: &str, rules: &ModelRules) -> bool {
        let anonymous = identity.method == AuthMethod::Anonymous;
        if anonymous && rules.requires_identity(self.auth.required) {
            return false;
        }
        match self.tenants.tenant_of(identity.tenant.as_ref(), !anonymous) {
            Ok(TenantOf::Tenant(t)) => self.tenants.may_call(&t, name).is_ok(),
            Ok(_) => true,
            Err(_) => false,
        }
    }

    /// What an unknown model's answer adds for `identity`: the closest name
    /// it may call ("did you mean"), and the names it may call.
    pub(super) fn suggestions(&self, identity: &Identity, asked: &str) -> String {
        // Names only: an unknown model's answer builds no version lists.
        let table = self.registry.snapshot();
        let names: Vec<String> = self
            .visible(&table, identity)
            .map(|(name, _)| name.clone())
            .collect();
        if names.is_empty() {
            return "; no model is served to this caller".into();
        }
        let listed: Vec<&str> = names.iter().take(MAX_LISTED).map(String::as_str).collect();
        let mut text = match closest(asked, &names) {
            Some(close) => format!("; did you mean '{close}'? Models you may call: "),
            None => "; models you may call: ".to_string(),
        };
        text.push_str(&listed.join(", "));
        if names.len() > MAX_LISTED {
            text.push_str(&format!(
                " and {} more (GET /v2/models lists them)",
                names.len() - MAX_LISTED
            ));
        }
        text
    }
}

/// The name nearest `asked` by edit distance, when near enough to be a
/// typo (at most a third of its length, and at least one edit).
fn closest<'a>(asked: &str, names: &'a [String]) -> Option<&'a str> {
    let len = asked.chars().count();
    if len > MAX_COMPARED {
        return None;
    }
    let limit = (len / 3).max(1);
    names
        .iter()
        .filter(|n| n.chars().count().abs_diff(len) <= limit)
        .map(|n| (edit_distance(asked, n), n))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n.as_str())
}

/// Levenshtein distance, counting a swap of two neighbours as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = d;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_model_and_strangers_do_not() {
        let names: Vec<String> = ["iris", "sentiment", "fraud-v2"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(closest("irsi", &names), Some("iris"));
        assert_eq!(closest("iri", &names), Some("iris"));
        assert_eq!(closest("sentimnet", &names), Some("sentiment"));
        assert_eq!(closest("fraud-v3", &names), Some("fraud-v2"));
        assert_eq!(closest("xyz", &names), None);
        assert_eq!(closest("deny-all", &names), None);
        // A name from a long URL is not compared at all.
        assert_eq!(closest(&"iris".repeat(1000), &names), None);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("ab", "ba"), 1);
    }
}
