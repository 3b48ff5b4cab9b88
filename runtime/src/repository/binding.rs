//! A policy binding: which policy runs for a model, at which hooks, and
//! whether it fails open. Plain settings, read from a model's manifest or
//! the server configuration's `[[policies]]`; the node's policy chains run
//! them.

use serde::Deserialize;

/// Which hook of a policy a binding runs.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// `on-request`, before the model.
    Request,
    /// `on-response`, after the model.
    Response,
}

pub(crate) fn both_stages() -> Vec<Stage> {
    vec![Stage::Request, Stage::Response]
}

/// One policy in a chain (`[[policies]]` in the server configuration or a
/// model's manifest).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PolicyBinding {
    /// Name of a deployed policy; its primary (or canary) version runs.
    pub policy: String,
    /// Let requests through when the policy fails, instead of denying.
    #[serde(default)]
    pub fail_open: bool,
    /// Hooks to run (default both).
    #[serde(default = "both_stages")]
    pub stages: Vec<Stage>,
}

/// When `binding` names no policy among `policies` (the deployed or found
/// policy names): a message saying who binds it (`who`, e.g. `model
/// iris@2`), what it breaks (`affected`, e.g. `every request to iris`),
/// what is there instead and what to do.
pub fn missing_policy(
    who: &str,
    affected: &str,
    binding: &PolicyBinding,
    policies: &[&str],
) -> Option<String> {
    if policies.contains(&binding.policy.as_str()) {
        return None;
    }
    let here = policies_here(policies);
    Some(format!(
        "{who} binds policy '{}', which is not deployed ({here}); {affected} will be refused \
         (503) until it is: deploy it, or fix the binding's name",
        binding.policy
    ))
}

/// What policies there are, for a message about one that is missing.
pub fn policies_here(policies: &[&str]) -> String {
    if policies.is_empty() {
        "no policy is deployed".to_string()
    } else {
        format!("policies here: {}", policies.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binding_to_a_missing_policy_says_what_is_there() {
        let b = PolicyBinding {
            policy: "pii-redact".into(),
            fail_open: false,
            stages: both_stages(),
        };
        assert_eq!(
            missing_policy(
                "model m@1",
                "every request to m",
                &b,
                &["pii-redaction", "guard"]
            ),
            Some(
                "model m@1 binds policy 'pii-redact', which is not deployed (policies here: \
                 pii-redaction, guard); every request to m will be refused (503) until it is: \
                 deploy it, or fix the binding's name"
                    .to_string()
            )
        );
        assert_eq!(missing_policy("x", "y", &b, &["pii-redact"]), None);
        assert!(
            missing_policy("x", "y", &b, &[])
                .unwrap()
                .contains("(no policy is deployed)")
        );
    }
}
