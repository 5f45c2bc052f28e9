//! [`Bindings`]: a node's input name -> binding, as a sorted list.
//!
//! A node binds a handful of inputs, and a workflow may have 100,000 nodes:
//! a `BTreeMap` allocates a leaf of about 900 bytes even for one entry, which
//! made registering such a workflow cost hundreds of megabytes per
//! scheduler. The serialized form is a map, the same as the `BTreeMap` it
//! replaces (so content-hash versions do not change).

use std::fmt;
use std::ops::Index;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::spec::Binding;

/// Input name -> binding, sorted by name, names unique.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bindings(Vec<(String, Binding)>);

impl Bindings {
    pub fn get(&self, name: &str) -> Option<&Binding> {
        self.0
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| &self.0[i].1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Binding)> {
        self.0.iter().map(|(n, b)| (n, b))
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(n, _)| n)
    }

    pub fn values(&self) -> impl Iterator<Item = &Binding> {
        self.0.iter().map(|(_, b)| b)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<(String, Binding)> for Bindings {
    /// Sorts by name; of repeated names the last wins, as in a map.
    fn from_iter<I: IntoIterator<Item = (String, Binding)>>(iter: I) -> Self {
        let mut list: Vec<(String, Binding)> = iter.into_iter().collect();
        list.sort_by(|a, b| a.0.cmp(&b.0));
        let mut unique: Vec<(String, Binding)> = Vec::with_capacity(list.len());
        for (name, binding) in list {
            match unique.last_mut() {
                Some(last) if last.0 == name => last.1 = binding,
                _ => unique.push((name, binding)),
            }
        }
        unique.shrink_to_fit();
        Bindings(unique)
    }
}

impl Index<&str> for Bindings {
    type Output = Binding;

    fn index(&self, name: &str) -> &Binding {
        self.get(name)
            .unwrap_or_else(|| panic!("no binding for input `{name}`"))
    }
}

impl Serialize for Bindings {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Bindings {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BindingsVisitor;
        impl<'de> Visitor<'de> for BindingsVisitor {
            type Value = Bindings;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of input name to binding")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Bindings, A::Error> {
                let mut list = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some(entry) = map.next_entry::<String, Binding>()? {
                    list.push(entry);
                }
                Ok(list.into_iter().collect())
            }
        }
        deserializer.deserialize_map(BindingsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Value;

    fn constant(i: i64) -> Binding {
        Binding::Constant(Value::Int(i))
    }

    #[test]
    fn sorted_unique_and_found_by_name() {
        let b: Bindings = [("b", 1), ("a", 2), ("b", 3)]
            .into_iter()
            .map(|(n, i)| (n.to_string(), constant(i)))
            .collect();
        assert_eq!(b.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(b.get("b"), Some(&constant(3)), "the last repeat wins");
        assert_eq!(b.get("c"), None);
        assert_eq!(b.len(), 2);
    }

    #[test]
    fn serializes_like_the_map_it_replaces() {
        let map: std::collections::BTreeMap<String, Binding> =
            [("y".to_string(), constant(1)), ("x".to_string(), constant(2))].into();
        let list: Bindings = map.clone().into_iter().collect();
        assert_eq!(
            serde_json::to_string(&list).unwrap(),
            serde_json::to_string(&map).unwrap()
        );
        let bytes = postcard::to_allocvec(&list).unwrap();
        assert_eq!(bytes, postcard::to_allocvec(&map).unwrap());
        assert_eq!(postcard::from_bytes::<Bindings>(&bytes).unwrap(), list);
    }
}
