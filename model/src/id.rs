//! Identifiers of registered entities: `project/domain/name@version`.
//!
//! A reference may leave parts out (`square`, `square@v1`, `ml/square@v1`);
//! [`Identifier::parse`] keeps them empty and [`Identifier::with_defaults`]
//! fills project and domain from the referring entity.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ModelError;

pub const DEFAULT_PROJECT: &str = "default";
pub const DEFAULT_DOMAIN: &str = "development";

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Identifier {
    pub project: String,
    pub domain: String,
    pub name: String,
    /// Empty in a reference means "the latest registered version".
    pub version: String,
}

impl Identifier {
    pub fn new(project: &str, domain: &str, name: &str, version: &str) -> Self {
        Identifier {
            project: project.to_owned(),
            domain: domain.to_owned(),
            name: name.to_owned(),
            version: version.to_owned(),
        }
    }

    /// Parses `[[project/]domain/]name[@version]`, `project/name` being read
    /// as project and name (the domain defaults).
    pub fn parse(text: &str) -> Result<Self, ModelError> {
        let bad = |why: &str| ModelError::BadIdentifier {
            text: text.to_owned(),
            why: why.to_owned(),
        };
        let (path, version) = match text.split_once('@') {
            Some((path, version)) => {
                if version.is_empty() {
                    return Err(bad("empty version after '@'"));
                }
                (path, version)
            }
            None => (text, ""),
        };
        let parts: Vec<&str> = path.split('/').collect();
        let (project, domain, name) = match parts.as_slice() {
            [name] => ("", "", *name),
            [project, name] => (*project, "", *name),
            [project, domain, name] => (*project, *domain, *name),
            _ => return Err(bad("expected project/domain/name@version")),
        };
        let id = Identifier::new(project, domain, name, version);
        id.validate_parts().map_err(|why| bad(&why))?;
        Ok(id)
    }

    /// Fills an empty project and domain from the given ones.
    pub fn with_defaults(mut self, project: &str, domain: &str) -> Self {
        if self.project.is_empty() {
            self.project = project.to_owned();
        }
        if self.domain.is_empty() {
            self.domain = domain.to_owned();
        }
        self
    }

    /// Fills an empty project and domain with `default/development`.
    pub fn with_global_defaults(self) -> Self {
        self.with_defaults(DEFAULT_PROJECT, DEFAULT_DOMAIN)
    }

    /// The id without its version: the key under which versions are listed.
    pub fn unversioned(&self) -> Identifier {
        Identifier {
            version: String::new(),
            ..self.clone()
        }
    }

    fn validate_parts(&self) -> Result<(), String> {
        if self.name.is_empty() {
            return Err("the name is empty".into());
        }
        for (what, part) in [
            ("project", &self.project),
            ("domain", &self.domain),
            ("name", &self.name),
            ("version", &self.version),
        ] {
            if let Some(c) = part
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            {
                return Err(format!(
                    "the {what} `{part}` contains `{c}`; use letters, digits, '-', '_' and '.'"
                ));
            }
        }
        Ok(())
    }

    /// Checks a complete identifier (all parts but the version present and legal).
    pub fn validate(&self) -> Result<(), ModelError> {
        self.validate_parts()
            .map_err(|why| ModelError::BadIdentifier {
                text: self.to_string(),
                why,
            })
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.project.is_empty() {
            write!(f, "{}/", self.project)?;
        }
        if !self.domain.is_empty() {
            write!(f, "{}/", self.domain)?;
        }
        f.write_str(&self.name)?;
        if !self.version.is_empty() {
            write!(f, "@{}", self.version)?;
        }
        Ok(())
    }
}

impl From<&baton_proto::Identifier> for Identifier {
    fn from(id: &baton_proto::Identifier) -> Self {
        Identifier::new(&id.project, &id.domain, &id.name, &id.version)
    }
}

impl From<&Identifier> for baton_proto::Identifier {
    fn from(id: &Identifier) -> Self {
        baton_proto::Identifier {
            project: id.project.clone(),
            domain: id.domain.clone(),
            name: id.name.clone(),
            version: id.version.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(
            Identifier::parse("sq").unwrap(),
            Identifier::new("", "", "sq", "")
        );
        assert_eq!(
            Identifier::parse("sq@v1").unwrap(),
            Identifier::new("", "", "sq", "v1")
        );
        assert_eq!(
            Identifier::parse("ml/sq@v1").unwrap(),
            Identifier::new("ml", "", "sq", "v1")
        );
        assert_eq!(
            Identifier::parse("ml/prod/sq@v1").unwrap(),
            Identifier::new("ml", "prod", "sq", "v1")
        );
        assert_eq!(
            Identifier::parse("sq@v1")
                .unwrap()
                .with_global_defaults()
                .to_string(),
            "default/development/sq@v1"
        );
    }

    #[test]
    fn rejects_malformed() {
        for bad in ["", "a/b/c/d", "sq@", "s q", "x/@v"] {
            let err = Identifier::parse(bad).unwrap_err().to_string();
            assert!(err.contains("identifier"), "{bad}: {err}");
        }
    }
}
