//! The strict type system: simple types, `list<T>`, `map<T>`, `optional<T>`
//! and structs, with a canonical text form used in specs and on the wire.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ModelError;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    Bool,
    Int,
    Float,
    String,
    Bytes,
    Datetime,
    Duration,
    Blob,
    List(Box<Type>),
    /// String keys.
    Map(Box<Type>),
    Optional(Box<Type>),
    Struct(BTreeMap<String, Type>),
}

impl Type {
    /// Whether a value of type `source` may be bound where `self` is expected.
    /// Strict: equal types, plus `T` into `optional<T>` (and element-wise).
    pub fn accepts(&self, source: &Type) -> bool {
        match (self, source) {
            (Type::Optional(inner), Type::Optional(src)) => inner.accepts(src),
            (Type::Optional(inner), src) => inner.accepts(src),
            (Type::List(a), Type::List(b)) | (Type::Map(a), Type::Map(b)) => a.accepts(b),
            (Type::Struct(a), Type::Struct(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .all(|(name, ty)| b.get(name).is_some_and(|src| ty.accepts(src)))
            }
            (a, b) => a == b,
        }
    }

    pub fn is_optional(&self) -> bool {
        matches!(self, Type::Optional(_))
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Bool => f.write_str("bool"),
            Type::Int => f.write_str("int"),
            Type::Float => f.write_str("float"),
            Type::String => f.write_str("string"),
            Type::Bytes => f.write_str("bytes"),
            Type::Datetime => f.write_str("datetime"),
            Type::Duration => f.write_str("duration"),
            Type::Blob => f.write_str("blob"),
            Type::List(t) => write!(f, "list<{t}>"),
            Type::Map(t) => write!(f, "map<{t}>"),
            Type::Optional(t) => write!(f, "optional<{t}>"),
            Type::Struct(fields) => {
                f.write_str("{")?;
                for (i, (name, ty)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{name}: {ty}")?;
                }
                f.write_str("}")
            }
        }
    }
}

impl FromStr for Type {
    type Err = ModelError;

    fn from_str(text: &str) -> Result<Self, ModelError> {
        let mut parser = TypeParser { text, pos: 0 };
        let ty = parser.parse_type().map_err(|why| ModelError::BadType {
            text: text.to_owned(),
            why,
        })?;
        parser.skip_spaces();
        if parser.pos != text.len() {
            return Err(ModelError::BadType {
                text: text.to_owned(),
                why: format!("unexpected `{}` after the type", &text[parser.pos..]),
            });
        }
        Ok(ty)
    }
}

struct TypeParser<'a> {
    text: &'a str,
    pos: usize,
}

impl TypeParser<'_> {
    fn skip_spaces(&mut self) {
        while self.text[self.pos..].starts_with(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, token: char) -> bool {
        self.skip_spaces();
        if self.text[self.pos..].starts_with(token) {
            self.pos += token.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, token: char) -> Result<(), String> {
        if self.eat(token) {
            Ok(())
        } else {
            Err(format!("expected `{token}` at position {}", self.pos))
        }
    }

    fn word(&mut self) -> &str {
        self.skip_spaces();
        let start = self.pos;
        let rest = &self.text[start..];
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(rest.len());
        self.pos += len;
        &self.text[start..start + len]
    }

    fn parse_type(&mut self) -> Result<Type, String> {
        if self.eat('{') {
            return self.parse_struct();
        }
        let word = self.word().to_owned();
        let simple = match word.as_str() {
            "bool" => Some(Type::Bool),
            "int" => Some(Type::Int),
            "float" => Some(Type::Float),
            "string" | "str" => Some(Type::String),
            "bytes" => Some(Type::Bytes),
            "datetime" => Some(Type::Datetime),
            "duration" => Some(Type::Duration),
            "blob" => Some(Type::Blob),
            _ => None,
        };
        if let Some(ty) = simple {
            return Ok(ty);
        }
        let wrap: fn(Box<Type>) -> Type = match word.as_str() {
            "list" => Type::List,
            "map" => Type::Map,
            "optional" => Type::Optional,
            "" => return Err(format!("expected a type at position {}", self.pos)),
            other => {
                return Err(format!(
                    "unknown type `{other}`; known: bool int float string bytes datetime duration blob list<T> map<T> optional<T> {{field: T}}"
                ))
            }
        };
        self.expect('<')?;
        let inner = self.parse_type()?;
        self.expect('>')?;
        Ok(wrap(Box::new(inner)))
    }

    fn parse_struct(&mut self) -> Result<Type, String> {
        let mut fields = BTreeMap::new();
        if self.eat('}') {
            return Ok(Type::Struct(fields));
        }
        loop {
            let name = self.word().to_owned();
            if name.is_empty() {
                return Err(format!("expected a field name at position {}", self.pos));
            }
            self.expect(':')?;
            let ty = self.parse_type()?;
            if fields.insert(name.clone(), ty).is_some() {
                return Err(format!("field `{name}` appears twice"));
            }
            if self.eat('}') {
                return Ok(Type::Struct(fields));
            }
            self.expect(',')?;
        }
    }
}

impl Serialize for Type {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Type {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_prints_canonically() {
        for (text, canonical) in [
            ("int", "int"),
            ("list<float>", "list<float>"),
            (" map< string >", "map<string>"),
            ("optional<blob>", "optional<blob>"),
            ("{b: int, a: list<string>}", "{a: list<string>, b: int}"),
            ("list<{x: float}>", "list<{x: float}>"),
        ] {
            assert_eq!(text.parse::<Type>().unwrap().to_string(), canonical);
        }
    }

    #[test]
    fn rejects_unknown_and_malformed() {
        for bad in [
            "integer",
            "list<int",
            "list<>",
            "int int",
            "{a int}",
            "{a: int, a: int}",
            "",
        ] {
            assert!(bad.parse::<Type>().is_err(), "{bad} parsed");
        }
        let err = "lst<int>".parse::<Type>().unwrap_err().to_string();
        assert!(err.contains("unknown type `lst`"), "{err}");
    }

    #[test]
    fn assignability_is_strict() {
        let t = |s: &str| s.parse::<Type>().unwrap();
        assert!(t("int").accepts(&t("int")));
        assert!(!t("float").accepts(&t("int")));
        assert!(t("optional<int>").accepts(&t("int")));
        assert!(!t("int").accepts(&t("optional<int>")));
        assert!(t("list<optional<int>>").accepts(&t("list<int>")));
        assert!(!t("{a: int}").accepts(&t("{a: int, b: int}")));
    }

    fn arb_type() -> impl Strategy<Value = Type> {
        let leaf = prop_oneof![
            Just(Type::Bool),
            Just(Type::Int),
            Just(Type::Float),
            Just(Type::String),
            Just(Type::Bytes),
            Just(Type::Datetime),
            Just(Type::Duration),
            Just(Type::Blob),
        ];
        leaf.prop_recursive(4, 16, 3, |inner| {
            prop_oneof![
                inner.clone().prop_map(|t| Type::List(Box::new(t))),
                inner.clone().prop_map(|t| Type::Map(Box::new(t))),
                inner.clone().prop_map(|t| Type::Optional(Box::new(t))),
                prop::collection::btree_map("[a-z]{1,4}", inner, 0..3).prop_map(Type::Struct),
            ]
        })
    }

    proptest! {
        #[test]
        fn text_form_roundtrips(ty in arb_type()) {
            let text = ty.to_string();
            prop_assert_eq!(text.parse::<Type>().unwrap(), ty);
        }
    }
}
