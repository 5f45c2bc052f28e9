//! A launch plan document's meaning: its workflow, inputs (defaults and
//! fixed), pool, labels and node overrides, each error at its field.

use super::raw::{RawLaunchPlan, RawOverride};
use super::*;

impl RawLaunchPlan {
    pub(super) fn into_spec(self) -> Result<LaunchPlanSpec, Fault> {
        let id = make_id(&self.project, &self.domain, &self.name, self.version)?;
        let reference = |text: &str, at: &str| {
            Identifier::parse(text)
                .map(|r| r.with_defaults(&id.project, &id.domain))
                .map_err(|e| Fault::new(at, format!("{at}: {e}")))
        };
        let workflow = reference(&self.workflow, "workflow")?;
        let constants = |raw: &BTreeMap<String, Yaml>, at: &str| {
            raw.iter()
                .map(|(name, yaml)| {
                    let json = yaml_to_json(yaml).map_err(|e| {
                        Fault::new(format!("{at}.{name}"), format!("input `{name}`: {e}"))
                    })?;
                    Ok((name.clone(), Value::from_untyped_json(&json)))
                })
                .collect::<Result<BTreeMap<_, _>, Fault>>()
        };
        let inputs = constants(&self.inputs, "inputs")?;
        let fixed = constants(&self.fixed, "fixed")?;
        if let Some(both) = inputs.keys().find(|k| fixed.contains_key(*k)) {
            return Err(Fault::new(
                format!("fixed.{both}"),
                format!("input `{both}` is both a default (`inputs`) and `fixed`: choose one"),
            ));
        }
        let mut overrides = BTreeMap::new();
        for (path, raw) in self.overrides {
            let at = format!("overrides.{path}");
            overrides.insert(path.clone(), raw.into_override(&at, &reference)?);
        }
        Ok(LaunchPlanSpec {
            id,
            workflow,
            inputs,
            fixed,
            pool: self.pool,
            labels: self.labels,
            overrides,
            description: self.description,
        })
    }
}

impl RawOverride {
    fn into_override(
        self,
        at: &str,
        reference: &dyn Fn(&str, &str) -> Result<Identifier, Fault>,
    ) -> Result<NodeOverride, Fault> {
        if self.task.is_some() && self.workflow.is_some() {
            return Err(Fault::new(
                at,
                format!("{at}: give `task` or `workflow`, not both"),
            ));
        }
        let field = |name: &str| format!("{at}.{name}");
        let over = NodeOverride {
            task: self
                .task
                .map(|t| reference(&t, &field("task")))
                .transpose()?,
            workflow: self
                .workflow
                .map(|w| reference(&w, &field("workflow")))
                .transpose()?,
            retries: self.retries,
            timeout_ms: timeout_ms(self.timeout, &field("timeout"))?,
            pool: self.pool.filter(|p| !p.is_empty()),
            cache: match self.cache.as_deref() {
                None => None,
                Some("use") => Some(CacheMode::Use),
                Some("skip") => Some(CacheMode::Skip),
                Some("overwrite") => Some(CacheMode::Overwrite),
                Some(other) => {
                    return Err(Fault::new(
                        field("cache"),
                        format!("{at}.cache: `{other}`; expected use, skip or overwrite"),
                    ))
                }
            },
        };
        if over == NodeOverride::default() {
            return Err(Fault::new(
                at,
                format!(
                    "{at} changes nothing: give task, workflow, retries, timeout, pool or cache"
                ),
            ));
        }
        Ok(over)
    }
}
