//! Where each field of a YAML spec file is: the line and column of every
//! mapping key and sequence item, by its path (`nodes[2].inputs.x`), per
//! document. Spec errors name a path; this turns it into `file:line:col`.
//!
//! serde's YAML deserializer keeps no positions once a value is read, so the
//! file is walked a second time with an event parser that does.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser};

/// The positions of one file's documents, counted as the YAML deserializer
/// counts them (an empty document is a document).
#[derive(Debug, Default)]
pub struct Locations {
    documents: Vec<HashMap<String, (usize, usize)>>,
}

/// One open mapping or sequence while the events are walked.
enum Open {
    Mapping { path: String, key: Option<String> },
    Sequence { path: String, next: usize },
}

impl Locations {
    /// Walks `text`. A file that does not parse has no locations: the YAML
    /// deserializer reports its own error, with its line.
    pub fn of(text: &str) -> Self {
        let mut documents: Vec<HashMap<String, (usize, usize)>> = Vec::new();
        let mut open: Vec<Open> = Vec::new();
        for event in Parser::new_from_str(text) {
            let Ok((event, span)) = event else {
                return Self::default();
            };
            let at = (span.start.line(), span.start.col() + 1);
            match event {
                Event::DocumentStart(_) => {
                    documents.push(HashMap::new());
                    open.clear();
                }
                Event::Scalar(..)
                | Event::Alias(_)
                | Event::MappingStart(..)
                | Event::SequenceStart(..) => {
                    let Some(document) = documents.last_mut() else {
                        continue;
                    };
                    // The path of the node that starts here; None for a key.
                    let path = match open.last_mut() {
                        None => Some(String::new()),
                        Some(Open::Mapping { path, key }) => match key.take() {
                            Some(key) => Some(join(path, &key)),
                            None => {
                                // A key: remember it, and where it is.
                                let name = match &event {
                                    Event::Scalar(text, ..) => text.to_string(),
                                    _ => "?".to_owned(), // a complex key
                                };
                                document.entry(join(path, &name)).or_insert(at);
                                *key = Some(name);
                                if matches!(event, Event::Scalar(..) | Event::Alias(_)) {
                                    continue;
                                }
                                None
                            }
                        },
                        Some(Open::Sequence { path, next }) => {
                            let item = format!("{path}[{next}]");
                            *next += 1;
                            document.entry(item.clone()).or_insert(at);
                            Some(item)
                        }
                    };
                    match event {
                        Event::MappingStart(..) => open.push(Open::Mapping {
                            path: path.unwrap_or_else(|| "?".into()),
                            key: None,
                        }),
                        Event::SequenceStart(..) => open.push(Open::Sequence {
                            path: path.unwrap_or_else(|| "?".into()),
                            next: 0,
                        }),
                        _ => {}
                    }
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    open.pop();
                }
                _ => {}
            }
        }
        Self { documents }
    }

    /// Whether `path` itself is written in document `index`.
    pub fn contains(&self, index: usize, path: &str) -> bool {
        self.documents
            .get(index)
            .is_some_and(|document| document.contains_key(path))
    }

    /// The line and column of `path` in document `index` (from 0), or of the
    /// nearest field that holds it.
    pub fn find(&self, index: usize, path: &str) -> Option<(usize, usize)> {
        let document = self.documents.get(index)?;
        let mut path = path;
        loop {
            if let Some(at) = document.get(path) {
                return Some(*at);
            }
            if path.is_empty() {
                return None;
            }
            let cut = path.rfind(['.', '[']).unwrap_or(0);
            path = &path[..cut];
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
kind: Task
name: a
---
kind: Workflow
name: w
nodes:
  - id: first
    task: t
    inputs:
      x: 1
  - {id: second, task: t, inputs: {y: \"${first.z}\"}}
";

    #[test]
    fn keys_and_items_have_their_lines() {
        let at = Locations::of(TEXT);
        assert_eq!(at.find(0, "name"), Some((2, 1)));
        assert_eq!(at.find(1, "name"), Some((5, 1)));
        assert_eq!(at.find(1, "nodes[0]"), Some((7, 5)));
        assert_eq!(at.find(1, "nodes[0].inputs.x"), Some((10, 7)));
        assert_eq!(at.find(1, "nodes[1].inputs.y").map(|a| a.0), Some(11));
    }

    #[test]
    fn a_missing_path_falls_back_to_what_holds_it() {
        let at = Locations::of(TEXT);
        assert_eq!(at.find(1, "nodes[0].inputs.nothing"), Some((9, 5)));
        assert_eq!(at.find(1, "nothing"), None);
        assert_eq!(at.find(7, "name"), None);
        assert_eq!(Locations::of("a: [").find(0, "a"), None);
    }
}
