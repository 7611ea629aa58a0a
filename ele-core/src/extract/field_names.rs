//! The serialized names of typed items, and the compile-time check of a resource's key names against them:
//! one error at the user's literal that names the type, suggests the closest name and lists them all.
//!
//! `#[resource(primary_key = "idd")]` over `Emit<Event>` expands to a constant that is evaluated when the
//! program compiles:
//!
//! ```text
//! const _: () = {
//!     use item::ProbeNamesOther as _;
//!     if let Some(message) = item::missing_field(item::Probe::<Event>::NAMES, "idd").as_str() {
//!         panic!("{}", message)   // spanned at "idd"
//!     }
//! };
//! ```
//!
//! `Probe::<Event>::NAMES` (in the `item` module) is the inherent constant when `Event` derives `Item` and the
//! trait's `None` (nothing to check) otherwise, so resources over other item types compile as before.

/// The serialized names of an item type: its own, then those of its flattened fields.
#[doc(hidden)]
pub struct FieldNames {
    /// The type's name, as written.
    pub ty: &'static str,
    /// The serialized names of its own fields, in order (a `#[serde(tag = "...")]` first).
    pub own: &'static [&'static str],
    /// The names of the flattened fields' types; `None` for one known only at run time (a map, a type without
    /// `Item`), which makes any name possible.
    pub flattened: &'static [Option<&'static FieldNames>],
}

/// The longest message [`missing_field`] writes; a longer list of names ends in `...`.
const CAPACITY: usize = 1024;

/// The error message of a name check, empty when the name exists or cannot be checked.
#[doc(hidden)]
pub struct Message {
    bytes: [u8; CAPACITY],
    len: usize,
}

impl Message {
    /// The message, or `None` when there is nothing to report.
    pub const fn as_str(&self) -> Option<&str> {
        if self.len == 0 {
            return None;
        }
        let (written, _) = self.bytes.split_at(self.len);
        match std::str::from_utf8(written) {
            Ok(text) => Some(text),
            Err(_) => Some("the key is not a serialized field of the item type"),
        }
    }

    const fn push(mut self, text: &str) -> Self {
        let text = text.as_bytes();
        let mut i = 0;
        while i < text.len() {
            if self.len == CAPACITY {
                // Cut at a character boundary and end with `...`.
                let mut end = CAPACITY - 3;
                while end > 0 && (self.bytes[end] & 0b1100_0000) == 0b1000_0000 {
                    end -= 1;
                }
                self.bytes[end] = b'.';
                self.bytes[end + 1] = b'.';
                self.bytes[end + 2] = b'.';
                self.len = end + 3;
                return self;
            }
            self.bytes[self.len] = text[i];
            self.len += 1;
            i += 1;
        }
        self
    }
}

/// The message for a key `name` that `names` does not hold: "`Event` has no serialized field `idd`; did you
/// mean `id`? Its serialized fields are `id`, `created_at`." Empty when `names` holds it or cannot tell.
pub const fn missing_field(names: Option<&FieldNames>, name: &str) -> Message {
    let empty = Message {
        bytes: [0; CAPACITY],
        len: 0,
    };
    let Some(names) = names else {
        return empty;
    };
    match holds(names, name) {
        Some(true) | None => return empty,
        Some(false) => {}
    }
    let mut message = empty
        .push("`")
        .push(names.ty)
        .push("` has no serialized field `")
        .push(name)
        .push("`");
    let mut best: Option<(&str, usize)> = None;
    best = closest(names, name, best);
    message = match best {
        Some((suggestion, _)) => message.push("; did you mean `").push(suggestion).push("`?"),
        None => message.push("."),
    };
    let mut first = true;
    message = list(names, message, &mut first);
    if first {
        message.push(" It has no serialized fields.")
    } else {
        message.push(".")
    }
}

/// Whether `names` holds `name`; `None` when a flattened type's names are only known at run time.
const fn holds(names: &FieldNames, name: &str) -> Option<bool> {
    let mut i = 0;
    while i < names.own.len() {
        if same(names.own[i], name) {
            return Some(true);
        }
        i += 1;
    }
    let mut unknown = false;
    let mut i = 0;
    while i < names.flattened.len() {
        match names.flattened[i] {
            None => unknown = true,
            Some(inner) => match holds(inner, name) {
                Some(true) => return Some(true),
                None => unknown = true,
                Some(false) => {}
            },
        }
        i += 1;
    }
    if unknown { None } else { Some(false) }
}

/// Appends " Its serialized fields are `a`, `b`" (own names first, then the flattened ones).
const fn list(names: &FieldNames, mut message: Message, first: &mut bool) -> Message {
    let mut i = 0;
    while i < names.own.len() {
        message = message
            .push(if *first {
                " Its serialized fields are `"
            } else {
                ", `"
            })
            .push(names.own[i])
            .push("`");
        *first = false;
        i += 1;
    }
    let mut i = 0;
    while i < names.flattened.len() {
        if let Some(inner) = names.flattened[i] {
            message = list(inner, message, first);
        }
        i += 1;
    }
    message
}

/// The name of `names` closest to `typo`, if close enough to suggest (as rustc's suggestions: an edit distance
/// of at most a third of the length, or the same name but for case and `_`/`-`), kept in `best`.
const fn closest<'a>(
    names: &'a FieldNames,
    typo: &str,
    mut best: Option<(&'a str, usize)>,
) -> Option<(&'a str, usize)> {
    let limit = if typo.len() > 3 { typo.len() / 3 } else { 1 };
    let mut i = 0;
    while i < names.own.len() {
        let candidate = names.own[i];
        // A spelling variant ranks before any typo.
        let distance = if loosely_same(candidate, typo) {
            0
        } else {
            distance(candidate.as_bytes(), typo.as_bytes()) + 1
        };
        let better = match best {
            None => true,
            Some((_, d)) => distance < d,
        };
        if distance <= limit + 1 && better {
            best = Some((candidate, distance));
        }
        i += 1;
    }
    let mut i = 0;
    while i < names.flattened.len() {
        if let Some(inner) = names.flattened[i] {
            best = closest(inner, typo, best);
        }
        i += 1;
    }
    best
}

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Equal but for ASCII case and `_`/`-` (`createdAt`, `created_at`, `Created-At`).
const fn loosely_same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    loop {
        while i < a.len() && (a[i] == b'_' || a[i] == b'-') {
            i += 1;
        }
        while j < b.len() && (b[j] == b'_' || b[j] == b'-') {
            j += 1;
        }
        if i == a.len() || j == b.len() {
            return i == a.len() && j == b.len();
        }
        if !a[i].eq_ignore_ascii_case(&b[j]) {
            return false;
        }
        i += 1;
        j += 1;
    }
}

/// The longest name compared by [`distance`]; longer names get no suggestion.
const MAX_COMPARED: usize = 64;

/// Levenshtein distance of two byte strings (`usize::MAX / 2` when one is longer than [`MAX_COMPARED`]).
const fn distance(a: &[u8], b: &[u8]) -> usize {
    if a.len() > MAX_COMPARED || b.len() > MAX_COMPARED {
        return usize::MAX / 2;
    }
    let mut previous = [0usize; MAX_COMPARED + 1];
    let mut current = [0usize; MAX_COMPARED + 1];
    let mut j = 0;
    while j <= b.len() {
        previous[j] = j;
        j += 1;
    }
    let mut i = 1;
    while i <= a.len() {
        current[0] = i;
        let mut j = 1;
        while j <= b.len() {
            let substitution = previous[j - 1] + if a[i - 1] == b[j - 1] { 0 } else { 1 };
            let deletion = previous[j] + 1;
            let insertion = current[j - 1] + 1;
            let mut min = substitution;
            if deletion < min {
                min = deletion;
            }
            if insertion < min {
                min = insertion;
            }
            current[j] = min;
            j += 1;
        }
        let mut k = 0;
        while k <= b.len() {
            previous[k] = current[k];
            k += 1;
        }
        i += 1;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const META: FieldNames = FieldNames {
        ty: "Meta",
        own: &["source", "region"],
        flattened: &[],
    };
    const EVENT: FieldNames = FieldNames {
        ty: "Event",
        own: &["id", "createdAt"],
        flattened: &[Some(&META)],
    };

    fn message(names: &FieldNames, name: &str) -> Option<String> {
        missing_field(Some(names), name).as_str().map(str::to_owned)
    }

    #[test]
    fn names_of_the_type_and_its_flattened_fields_pass() {
        assert_eq!(message(&EVENT, "id"), None);
        assert_eq!(message(&EVENT, "region"), None);
        assert_eq!(missing_field(None, "anything").as_str(), None);
        let open = FieldNames {
            ty: "Open",
            own: &["id"],
            flattened: &[None],
        };
        assert_eq!(
            message(&open, "anything"),
            None,
            "a flattened map may hold it"
        );
    }

    #[test]
    fn a_missing_name_gets_the_closest_one_and_the_list() {
        assert_eq!(
            message(&EVENT, "idd").as_deref(),
            Some(
                "`Event` has no serialized field `idd`; did you mean `id`? Its serialized fields are `id`, \
                 `createdAt`, `source`, `region`."
            )
        );
        assert_eq!(
            message(&EVENT, "created_at").as_deref(),
            Some(
                "`Event` has no serialized field `created_at`; did you mean `createdAt`? Its serialized \
                 fields are `id`, `createdAt`, `source`, `region`."
            )
        );
        assert_eq!(
            message(&EVENT, "regoin")
                .as_deref()
                .map(|m| m.contains("did you mean `region`?")),
            Some(true)
        );
        assert_eq!(
            message(&EVENT, "updated").as_deref(),
            Some(
                "`Event` has no serialized field `updated`. Its serialized fields are `id`, `createdAt`, \
                 `source`, `region`."
            )
        );
    }

    #[test]
    fn a_long_list_is_cut_at_a_character_boundary() {
        let names: Vec<&'static str> = (0..200)
            .map(|i| &*Box::leak(format!("feld_ü_{i}").into_boxed_str()))
            .collect();
        let many = FieldNames {
            ty: "Wide",
            own: Box::leak(names.into_boxed_slice()),
            flattened: &[],
        };
        let text = message(&many, "nope").expect("missing");
        assert!(text.ends_with("..."), "{text}");
        assert!(text.len() <= CAPACITY);
    }
}
