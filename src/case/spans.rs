//! Where a key or a value is in a case file's text, from the spans `toml` records while it
//! parses the file: the true line and column of an element of a multi-line array or of an
//! inline table, which no scan of the file's lines can find.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One step of a path into a case file: a key, or an element of an array.
#[derive(Clone, Copy, Debug)]
pub(super) enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// The steps of a dotted key (`runsc.flags`).
pub(super) fn keys(dotted: &str) -> Vec<Step<'_>> {
    dotted.split('.').map(Step::Key).collect()
}

/// The place of what `path` names in `text`: a key's own place (its name, or the `[table]`
/// header that opens it) or an array element's value. `None` when the file does not have it
/// (a case may inherit it through `extend`) or does not parse.
pub(super) fn find(text: &str, path: &[Step]) -> Option<Range<usize>> {
    let doc = DeTable::parse(text).ok()?;
    let mut table: &DeTable = doc.get_ref();
    let mut place = None;
    let mut steps = path.iter().peekable();
    while let Some(step) = steps.next() {
        let Step::Key(key) = step else {
            return None;
        };
        let (k, v) = table.iter().find(|(k, _)| k.get_ref() == key)?;
        // `key = value` begins with its key; a `[table]` header holds its key after `[`.
        place = Some(if v.span().start < k.span().start {
            v.span()
        } else {
            k.span()
        });
        let mut value = v;
        while let Some(Step::Index(i)) = steps.peek() {
            let DeValue::Array(a) = value.get_ref() else {
                return None;
            };
            value = a.get(*i)?;
            place = Some(value.span());
            steps.next();
        }
        match value.get_ref() {
            DeValue::Table(t) => table = t,
            _ if steps.peek().is_some() => return None,
            _ => {}
        }
    }
    place
}

/// The dotted key (array elements unnumbered: `mounts.readonly`) at byte `offset` of `text`,
/// the deepest whose name or value holds it; `None` when `text` does not parse (a syntax
/// error) or no key holds `offset`.
pub(super) fn key_at(text: &str, offset: usize) -> Option<String> {
    let doc = DeTable::parse(text).ok()?;
    let path = in_table(doc.get_ref(), offset)?;
    (!path.is_empty()).then(|| path.join("."))
}

fn in_table<'t>(table: &'t DeTable<'_>, offset: usize) -> Option<Vec<&'t str>> {
    for (k, v) in table.iter() {
        if let Some(mut rest) = in_value(v, offset) {
            rest.insert(0, k.get_ref());
            return Some(rest);
        }
        if holds(&k.span(), offset) {
            return Some(vec![k.get_ref()]);
        }
    }
    None
}

/// A table's span is its `[header]` (or its inline braces) and an array of tables' the first
/// header, so every element is searched, not only those within the span.
fn in_value<'t>(value: &'t Spanned<DeValue<'_>>, offset: usize) -> Option<Vec<&'t str>> {
    let deeper = match value.get_ref() {
        DeValue::Table(t) => in_table(t, offset),
        DeValue::Array(a) => a.iter().find_map(|e| in_value(e, offset)),
        _ => None,
    };
    deeper.or_else(|| holds(&value.span(), offset).then(Vec::new))
}

fn holds(span: &Range<usize>, offset: usize) -> bool {
    span.start <= offset && offset < span.end.max(span.start + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CASE: &str = "\
source = \"test\"
runsc = { network = \"none\", flags = [\"--net-raw\", \"--log=/x\"] }
mounts = [
  { type = \"tmpfs\", destination = \"/a\" },
  { type = \"tmpfs\", destination = \"../b\" },
]

[[spec]]
x = 1

[[spec]]
y = [
  1,
  \"two\",
]

[env]
\"A=B\" = \"x\"
";

    fn at(text: &str, place: Option<Range<usize>>) -> &str {
        &text[place.expect("found")]
    }

    #[test]
    fn an_element_of_a_multi_line_array_or_an_inline_table_is_found() {
        use Step::*;
        let flag = find(CASE, &[Key("runsc"), Key("flags"), Index(1)]);
        assert_eq!(at(CASE, flag), "\"--log=/x\"");
        let mount = find(CASE, &[Key("mounts"), Index(1)]).unwrap();
        assert!(CASE[mount.clone()].starts_with("{ type = \"tmpfs\", destination = \"../b\""));
        assert_eq!(
            CASE[..mount.start].matches('\n').count() + 1,
            5,
            "on the fifth line"
        );
        let second = find(CASE, &[Key("spec"), Index(1), Key("y"), Index(1)]);
        assert_eq!(at(CASE, second), "\"two\"");
        assert_eq!(at(CASE, find(CASE, &[Key("env"), Key("A=B")])), "\"A=B\"");
        assert_eq!(at(CASE, find(CASE, &keys("env"))), "[env]");
        assert_eq!(at(CASE, find(CASE, &keys("source"))), "source");
        assert!(find(CASE, &keys("runsc.network.x")).is_none());
        assert!(find(CASE, &[Key("mounts"), Index(2)]).is_none());
        assert!(find("x = [", &keys("x")).is_none());
    }

    #[test]
    fn the_key_at_an_offset_names_its_tables_not_its_elements() {
        let at = |needle: &str| key_at(CASE, CASE.find(needle).unwrap());
        assert_eq!(at("--log").as_deref(), Some("runsc.flags"));
        assert_eq!(at("../b").as_deref(), Some("mounts.destination"));
        assert_eq!(at("\"two\"").as_deref(), Some("spec.y"));
        assert_eq!(at("\"A=B\"").as_deref(), Some("env.A=B"));
        assert_eq!(at("[env]").as_deref(), Some("env"));
        assert_eq!(key_at(CASE, CASE.find("\n\n").unwrap()), None);
    }
}
