//! The blobs the replicated state refers to, for `baton blob sweep`
//! (docs/operations.md, "Retention"): in every execution's inputs and
//! outputs and its node instances' outputs (and the outputs a recovery is
//! to reuse), in every cache entry, and in the constants and defaults of
//! every registered task, workflow and launch plan. A blob none of these
//! names is garbage once old enough that no launch or attempt still in
//! flight can be about to name it.

use std::collections::BTreeSet;

use baton_model::{BlobRef, Value, Values};

use super::SchedulerState;

/// What the state refers to: every blob's sha256, and the offloaded values
/// among them, whose JSON may name more blobs.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BlobRefs {
    pub sha256: BTreeSet<String>,
    pub offloaded: BTreeSet<(String, u64, String)>,
}

impl BlobRefs {
    fn add(&mut self, value: &Value) {
        match value {
            Value::Blob(blob) => {
                self.sha256.insert(blob.sha256.to_ascii_lowercase());
            }
            Value::Offloaded(BlobRef { uri, size, sha256 }) => {
                self.sha256.insert(sha256.to_ascii_lowercase());
                self.offloaded
                    .insert((uri.clone(), *size, sha256.to_ascii_lowercase()));
            }
            Value::List(items) => items.iter().for_each(|v| self.add(v)),
            Value::Map(fields) => fields.values().for_each(|v| self.add(v)),
            _ => {}
        }
    }

    fn add_all(&mut self, values: &Values) {
        values.values().for_each(|v| self.add(v));
    }

    /// Every value inside a spec, found through its JSON form (specs are
    /// few, and their values sit in many places: defaults, constants,
    /// launch plan inputs).
    fn add_spec(&mut self, spec: &impl serde::Serialize) {
        if let Ok(json) = serde_json::to_value(spec) {
            self.add_json(&json);
        }
    }

    /// A value's JSON as serde writes it: `{"Blob": {"uri", "size",
    /// "sha256"}}` or `{"Offloaded": {...}}`, anywhere.
    fn add_json(&mut self, json: &serde_json::Value) {
        match json {
            serde_json::Value::Object(fields) => {
                for (key, inner) in fields {
                    let blob = matches!(key.as_str(), "Blob" | "Offloaded")
                        .then(|| serde_json::from_value::<BlobRef>(inner.clone()).ok())
                        .flatten();
                    match blob {
                        Some(blob) if key == "Blob" => self.add(&Value::Blob(blob)),
                        Some(blob) => self.add(&Value::Offloaded(blob)),
                        None => self.add_json(inner),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|j| self.add_json(j)),
            _ => {}
        }
    }
}

impl SchedulerState {
    /// Every blob the state refers to.
    pub fn blob_refs(&self) -> BlobRefs {
        let mut refs = BlobRefs::default();
        for execution in self.executions.values() {
            refs.add_all(&execution.inputs);
            refs.add_all(&execution.outputs);
            for node in &execution.nodes {
                refs.add_all(&node.outputs);
            }
            for frame in &execution.frames {
                refs.add_all(&frame.inputs);
                if let Some(outputs) = &frame.outputs {
                    refs.add_all(outputs);
                }
            }
            if let Some(origin) = &execution.origin {
                origin.reuse.values().for_each(|v| refs.add_all(v));
            }
            if let Some(plan) = &execution.plan {
                plan.tasks.values().for_each(|t| refs.add_spec(t.as_ref()));
            }
        }
        for outputs in self.cache.outputs() {
            refs.add_all(outputs);
        }
        self.tasks.values().for_each(|t| refs.add_spec(t.as_ref()));
        self.workflows.values().for_each(|w| refs.add_spec(&w.spec));
        self.launch_plans
            .values()
            .for_each(|p| refs.add_spec(p.as_ref()));
        refs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(sha: char) -> Value {
        Value::Blob(BlobRef {
            uri: format!("file:///b/sha256/{}", sha.to_string().repeat(64)),
            size: 1,
            sha256: sha.to_string().repeat(64),
        })
    }

    #[test]
    fn refs_are_found_inside_lists_maps_and_specs() {
        let mut refs = BlobRefs::default();
        let nested = Value::Map(
            [(
                "xs".to_string(),
                Value::List(vec![blob('a'), Value::Int(1)]),
            )]
            .into(),
        );
        refs.add(&nested);
        refs.add(&Value::Offloaded(BlobRef {
            uri: "file:///b/sha256/x".into(),
            size: 9,
            sha256: "B".repeat(64),
        }));
        // A spec's constant, as serde writes it.
        refs.add_spec(
            &serde_json::json!({"nodes": [{"inputs": {"model": {"Constant": blob('c')}}}]}),
        );
        let want: BTreeSet<String> = ["a", "b", "c"].iter().map(|c| c.repeat(64)).collect();
        assert_eq!(refs.sha256, want);
        assert_eq!(refs.offloaded.len(), 1);
    }
}
