//! Typed items at compile time, and resources made from their function.
//!
//! # Typed items ([`Item`])
//! `#[derive(ele::Item)]` on a struct that also derives `serde::Serialize` describes the struct's *serialized*
//! fields (after serde's `rename`, `rename_all`, `skip`, `flatten`, ...) as trait impls. `#[resource]` uses
//! them to check `primary_key`, `merge_key` and `#[incremental(cursor = "...")]` paths, and the `T` of
//! `Incremental<T>`, against the item type at compile time; the errors point at the user's string literal.
//!
//! How it works, for code readers (generated code uses this module only through `ele::__private`):
//! - A field name is a type: `"id"` is `FieldName<'i', 'd'>` ([`FieldName`] takes the characters as const
//!   generic parameters).
//! - The derive implements [`Field<Name, Index, Ty>`](Field) for the struct, once per serialized field, with
//!   `Ty` the field's Rust type. `Index` is [`Here`] for the struct's own fields and [`Flat`] for the ones a
//!   `#[serde(flatten)]` field brings in; rustc infers it (frunk's "index" trick), so one lookup finds a name
//!   wherever it lives without overlapping impls. The impls go through a trait the derive generates per
//!   struct, whose `#[diagnostic::on_unimplemented]` lists the struct's serialized names.
//! - `#[resource]` emits a never-called generic function holding `field::<_, Name, _, _>(...)` calls, one per
//!   key and one per cursor path segment, spanned at the string literal, and a `cursor::<_, T>(...)` call
//!   spanned at `T` of `Incremental<T>`; rustc type-checks them, so a typo is an ordinary E0277 error there.
//! - Opting in: the checks start from [`Probe<T>`], whose method `probe()` returns a [`PhantomData<T>`] when
//!   `T: Item` (trait [`ProbeItem`]) and a `PhantomData<Unchecked>` otherwise (trait [`ProbeOther`], reached
//!   through one more autoref). [`Unchecked`] accepts every name and every cursor type, so an item type without
//!   the derive (a plain `#[derive(Serialize)]` struct) compiles exactly as before and keeps the run-time checks.
//!   This is dtolnay's autoref specialization; it needs the item type to be concrete, which it is (resource
//!   functions are not generic).
//! - Once a path has started on an `Item` type, every step must resolve: a nested path `a.b` walks into the
//!   type of `a`, which must derive `Item` too, or be dynamic: `serde_json::Value`, a map with string keys, or
//!   [`Dyn`] (a field with `serialize_with`), where any name is accepted and checked at run time. `Option`,
//!   `Box`, `Rc` and `Arc` are looked through.
//!
//! # Resources from their function ([`from_fn`])
//! A resource bound per endpoint in a loop is built from the function itself, so an incremental parameter can
//! never be left unbound: `ele::from_fn(get_resource).name(key).bind((key, endpoint))`. Handing over an
//! already-called resource instead (`from_fn(get_resource(key, endpoint))`) does not compile, and the
//! message shows the right form.

use std::collections::{BTreeMap, HashMap};
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::extract::incremental::Cursor;
use crate::extract::resource::{Resource, ResourceExt};
use crate::model::hints::{Key, WriteDisposition};
use crate::model::schema::ColumnHints;

pub use crate::extract::column_type::{ColumnType, kind, nested_columns, overlay_type_columns};
#[doc(hidden)]
pub use crate::extract::field_names::{FieldNames, Message, missing_field};

/// A struct whose serialized fields are known at compile time; implement it with `#[derive(ele::Item)]`.
///
/// With an item type that implements `Item`, `#[resource]` checks at compile time that `primary_key`,
/// `merge_key`, and the cursor path and `primary_key` of each `#[incremental]` name serialized fields of the
/// item, and that `T` of `Incremental<T>` is the cursor field's type (or `Option`'s inner type, or
/// `serde_json::Value`). Without it (or with `serde_json::Value` items) the same mistakes are reported when
/// the run starts or the first item arrives.
///
/// ```text
/// #[derive(Serialize, ele::Item)]
/// #[serde(rename_all = "camelCase")]
/// struct Event {
///     event_id: i64,      // serialized as `eventId`
///     created_at: String, // serialized as `createdAt`
///     #[serde(skip)]
///     cache: Vec<u8>,     // not serialized
/// }
///
/// #[resource(primary_key = "eventId", write_disposition = "merge")]
/// async fn events(
///     out: Emit<Event>,
///     #[incremental(cursor = "createdAt")] created_at: Incremental<String>,
/// ) -> ele::Result<()> { .. }
/// ```
///
/// `primary_key = "event_id"` there fails to compile, pointing at `"event_id"` and listing `eventId`,
/// `createdAt`; so does `Incremental<i64>` for the `createdAt` cursor, pointing at `i64`.
///
/// The derive reads serde's attributes: `rename` (also `rename(serialize = "...")`), `rename_all` (every serde
/// case convention), `skip` and `skip_serializing`, `flatten` (the flattened field's serialized names count as
/// the struct's own, so its type must derive `Item` too; a flattened map, whose keys are only known at run
/// time, makes the struct accept any name at compile time, its own names included),
/// `tag` on the struct (one more field), `transparent` and `into` (the fields are those of the inner or target
/// type), and `serialize_with`/`with` (the name is checked, the type is not). A newtype struct `struct Id(Inner)`
/// is serialized as its inner value and described by it. `#[ele(crate = "my_reexport::ele")]` names the facade
/// for crates that re-export ele.
///
/// What stays a run-time check: names in a struct with a flattened map, names inside `serde_json::Value` and
/// map fields, keys that
/// contain `__` (the normalized columns of nested fields, e.g. `user__id`), and cursor paths written as
/// JSONPath (`$.a.b`, `$.items[*].ts`, `$`) — the JSONPath spelling is also the way to opt a single path out of
/// the compile-time check. Keys are checked against the serialized names, as the item serializes them. A name
/// that both the struct and a flattened field serialize (serde would write it twice) is reported as "type
/// annotations needed".
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not describe its serialized fields",
    label = "expected a struct with `#[derive(ele::Item)]`",
    note = "add `#[derive(ele::Item)]` next to `#[derive(Serialize)]` on `{Self}`"
)]
pub trait Item {
    /// The serialized names of the struct's own fields, in order (a `#[serde(tag = "...")]` first), without
    /// the skipped ones, and those of its `#[serde(flatten)]` fields' types.
    #[doc(hidden)]
    const NAMES: FieldNames;

    /// The column hints the field types give (see [`ColumnType`]) with the fields' `#[ele(...)]` hints on
    /// top, under the serialized names; a resource emitting this type starts from them.
    fn columns() -> ColumnHints {
        ColumnHints::new()
    }
}

/// A field name at the type level, 24 characters at a time: `"id"` is `FieldName<'i', 'd'>` (the other
/// characters keep their default, which rustc leaves out when it prints the type), and a longer name continues
/// in `Rest`, another `FieldName`.
#[doc(hidden)]
pub struct FieldName<
    const C0: char = '\0',
    const C1: char = '\0',
    const C2: char = '\0',
    const C3: char = '\0',
    const C4: char = '\0',
    const C5: char = '\0',
    const C6: char = '\0',
    const C7: char = '\0',
    const C8: char = '\0',
    const C9: char = '\0',
    const C10: char = '\0',
    const C11: char = '\0',
    const C12: char = '\0',
    const C13: char = '\0',
    const C14: char = '\0',
    const C15: char = '\0',
    const C16: char = '\0',
    const C17: char = '\0',
    const C18: char = '\0',
    const C19: char = '\0',
    const C20: char = '\0',
    const C21: char = '\0',
    const C22: char = '\0',
    const C23: char = '\0',
    Rest = (),
>(PhantomData<Rest>);

/// [`Field`] index: the name is a field of the struct itself.
#[doc(hidden)]
pub struct Here;

/// [`Field`] index: the name comes from the struct's `K`-th flattened field, where it has index `I`.
#[doc(hidden)]
pub struct Flat<const K: usize, I>(PhantomData<I>);

/// [`Field`] index: a dynamic type (a map, `serde_json::Value`) that may hold any name.
#[doc(hidden)]
pub struct Dynamic;

/// [`Field`] index of [`Unchecked`].
#[doc(hidden)]
pub struct Skip;

/// The type of a field that is only known at run time (inside `serde_json::Value`, or serialized with
/// `serialize_with`): every name under it and every cursor type for it are accepted.
#[doc(hidden)]
pub struct Dyn;

/// What a path starts from when the item type does not implement [`Item`]: nothing is checked.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct Unchecked;

/// `Self` serializes a field named `N` (a [`FieldName`]) whose Rust type is `Ty`; `I` locates it (see the
/// module docs). Implemented by `#[derive(ele::Item)]`.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not describe its serialized fields",
    label = "this path goes through a value of type `{Self}`, whose fields ele cannot see",
    note = "a key or cursor path is checked at compile time through structs that derive `ele::Item`, maps and `serde_json::Value`; derive `ele::Item` on `{Self}` if it is such a struct, or write the cursor as a JSONPath (`$.a.b`) to check it at run time only"
)]
pub trait Field<N, I, Ty> {}

// `do_not_recommend`: an error through `Option<User>` is about `Option<User>` then, and these impls stay out of
// the "the following other types implement trait" list under errors about a type without `Item`.
#[diagnostic::do_not_recommend]
impl<T: Field<N, I, Ty>, N, I, Ty> Field<N, I, Ty> for Option<T> {}
#[diagnostic::do_not_recommend]
impl<T: Field<N, I, Ty>, N, I, Ty> Field<N, I, Ty> for Box<T> {}
#[diagnostic::do_not_recommend]
impl<T: Field<N, I, Ty>, N, I, Ty> Field<N, I, Ty> for Rc<T> {}
#[diagnostic::do_not_recommend]
impl<T: Field<N, I, Ty>, N, I, Ty> Field<N, I, Ty> for Arc<T> {}
#[diagnostic::do_not_recommend]
impl<T: Field<N, I, Ty>, N, I, Ty> Field<N, I, Ty> for &T {}
#[diagnostic::do_not_recommend]
impl<N> Field<N, Dynamic, Dyn> for Value {}
#[diagnostic::do_not_recommend]
impl<N> Field<N, Dynamic, Dyn> for Map<String, Value> {}
#[diagnostic::do_not_recommend]
impl<N, V, S> Field<N, Dynamic, V> for HashMap<String, V, S> {}
#[diagnostic::do_not_recommend]
impl<N, V> Field<N, Dynamic, V> for BTreeMap<String, V> {}
#[diagnostic::do_not_recommend]
impl<N, V, S> Field<N, Dynamic, V> for indexmap::IndexMap<String, V, S> {}
#[diagnostic::do_not_recommend]
impl<N> Field<N, Dynamic, Dyn> for Dyn {}
#[diagnostic::do_not_recommend]
impl<N> Field<N, Skip, Unchecked> for Unchecked {}

/// `Incremental<Self>` fits a cursor field of type `F`: `F` is `Self` or `Option<Self>`, or only known at run
/// time.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "the cursor field has type `{F}`, not `{Self}`",
    label = "expected the cursor field's type `{F}` (or its `Option`'s inner type), or `serde_json::Value`",
    note = "`T` of `Incremental<T>` is the type of the field the cursor path names"
)]
pub trait CursorOf<F> {}

impl<C> CursorOf<C> for C {}
impl<C> CursorOf<Option<C>> for C {}
impl<C: Cursor> CursorOf<Dyn> for C {}
impl<C: Cursor> CursorOf<Unchecked> for C {}

impl<T: Item> Probe<T> {
    /// `T`'s serialized names, for [`missing_field`](super::field_names::missing_field).
    pub const NAMES: Option<&'static FieldNames> = Some(&T::NAMES);
}

/// `Probe::<T>::NAMES` for a `T` without [`Item`]: nothing to check (the inherent constant wins when `T: Item`).
#[doc(hidden)]
pub trait ProbeNamesOther {
    /// `None`.
    const NAMES: Option<&'static FieldNames> = None;
}

impl<T> ProbeNamesOther for Probe<T> {}

/// The start of a compile-time check on the item type `T`; see [`ProbeItem`] and [`ProbeOther`].
#[doc(hidden)]
pub struct Probe<T>(PhantomData<fn() -> T>);

impl<T> Probe<T> {
    /// A probe of `T`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Probe(PhantomData)
    }
}

/// Chosen by `(&Probe::<T>::new()).probe()` when `T: Item`: the checks run on `T`.
#[doc(hidden)]
pub trait ProbeItem {
    /// The type the checks start from.
    type Start;
    /// `PhantomData<T>`.
    fn probe(&self) -> Self::Start;
}

impl<T: Item> ProbeItem for Probe<T> {
    type Start = PhantomData<T>;
    fn probe(&self) -> PhantomData<T> {
        PhantomData
    }
}

/// Chosen by `(&Probe::<T>::new()).probe()` when `T` does not implement [`Item`] (one more autoref away than
/// [`ProbeItem`]): the checks run on [`Unchecked`], which accepts everything.
#[doc(hidden)]
pub trait ProbeOther {
    /// `PhantomData<Unchecked>`.
    fn probe(&self) -> PhantomData<Unchecked>;
}

impl<T> ProbeOther for &Probe<T> {
    fn probe(&self) -> PhantomData<Unchecked> {
        PhantomData
    }
}

/// The columns of a field of type `T` (`(&Probe::<T>::new()).type_columns(..)`), when `T` implements
/// [`ColumnType`].
#[doc(hidden)]
pub trait ProbeColumnType {
    /// The columns of a field `name` of type `T`.
    fn type_columns(&self, name: &str, nullable: bool) -> ColumnHints;
}

impl<T: ColumnType> ProbeColumnType for Probe<T> {
    fn type_columns(&self, name: &str, nullable: bool) -> ColumnHints {
        T::columns(name, nullable)
    }
}

/// The columns of a field of a type without [`ColumnType`]: none, the column is inferred from the data.
#[doc(hidden)]
pub trait ProbeColumnTypeOther {
    /// No columns.
    fn type_columns(&self, name: &str, nullable: bool) -> ColumnHints;
}

impl<T> ProbeColumnTypeOther for &Probe<T> {
    fn type_columns(&self, _name: &str, _nullable: bool) -> ColumnHints {
        ColumnHints::new()
    }
}

/// The columns of an item type `T` (`(&Probe::<T>::new()).item_columns()`), when `T` derives [`Item`].
#[doc(hidden)]
pub trait ProbeItemColumns {
    /// `T`'s columns.
    fn item_columns(&self) -> ColumnHints;
}

impl<T: Item> ProbeItemColumns for Probe<T> {
    fn item_columns(&self) -> ColumnHints {
        T::columns()
    }
}

/// The columns of an item type without [`Item`]: none.
#[doc(hidden)]
pub trait ProbeItemColumnsOther {
    /// No columns.
    fn item_columns(&self) -> ColumnHints;
}

impl<T> ProbeItemColumnsOther for &Probe<T> {
    fn item_columns(&self) -> ColumnHints {
        ColumnHints::new()
    }
}

/// A step of a key or cursor path from `Self` (a `PhantomData<T>`): the field `N` of `T`, of type `Ty`.
///
/// The bound of [`field`] is on this trait rather than on `T: Field<..>` directly because rustc words an
/// unsatisfied bound with the message of the outermost trait whose `Self` is the same type as the innermost
/// one's: with `T: Field<..>` it would use `Field`'s generic message instead of the one the derive generates
/// for `T`, which lists its serialized names.
#[doc(hidden)]
pub trait Step<N, I, Ty> {}

impl<T: Field<N, I, Ty>, N, I, Ty> Step<N, I, Ty> for PhantomData<T> {}

/// One step of a key or cursor path: the field `N` of `T`, whose type it returns. Only ever type-checked.
#[doc(hidden)]
pub fn field<T, N, I, Ty>(_: PhantomData<T>) -> PhantomData<Ty>
where
    PhantomData<T>: Step<N, I, Ty>,
{
    PhantomData
}

/// `Incremental<C>` against the cursor field's type `F`. Only ever type-checked.
#[doc(hidden)]
pub fn cursor<F, C: CursorOf<F>>(_: PhantomData<F>) {}

// ---------------------------------------------------------------------------------------------------------
// Resources made from their function.

/// A function that makes a resource from the arguments `Args` (a tuple): what [`from_fn`] accepts, such as a
/// `#[resource]` function (the function itself, not a call of it).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a resource function",
    label = "expected the `#[resource]` function itself, not a resource or a stream",
    note = "pass the function and give its arguments to `bind`: `ele::from_fn(get_resource).name(key).bind((key, endpoint))`",
    note = "a resource function returns a resource value: an `async fn` annotated with `#[ele::resource]`, or a closure that calls one"
)]
pub trait ResourceFn<Args> {
    /// The resource the function returns.
    type Resource: Resource;

    /// Calls the function with `args`.
    fn call(self, args: Args) -> Self::Resource;
}

macro_rules! resource_fn {
    ($($arg:ident),*) => {
        impl<F, R, $($arg),*> ResourceFn<($($arg,)*)> for F
        where
            F: FnOnce($($arg),*) -> R,
            R: Resource,
        {
            type Resource = R;

            #[allow(non_snake_case)]
            fn call(self, ($($arg,)*): ($($arg,)*)) -> R {
                self($($arg),*)
            }
        }
    };
}
resource_fn!();
resource_fn!(A);
resource_fn!(A, B);
resource_fn!(A, B, C);
resource_fn!(A, B, C, D);
resource_fn!(A, B, C, D, E);
resource_fn!(A, B, C, D, E, G);
resource_fn!(A, B, C, D, E, G, H);
resource_fn!(A, B, C, D, E, G, H, J);

/// A resource function waiting for its arguments, with hints to apply to the resource it makes; see
/// [`from_fn`].
#[must_use = "a resource function does nothing until `bind` gives it its arguments"]
pub struct FromFn<F> {
    f: F,
    name: Option<String>,
    table_name: Option<String>,
    write_disposition: Option<WriteDisposition>,
    primary_key: Option<Key>,
    merge_key: Option<Key>,
    max_table_nesting: Option<usize>,
    selected: Option<bool>,
}

/// A resource made from its function: `from_fn(get_resource).name(key).bind((key, endpoint))` calls
/// `get_resource(key, endpoint)` and applies the hints given before `bind`.
///
/// This is the seed's dynamic resource (one per endpoint, made in a loop). Because the function is handed
/// over, not a call of it, every argument is given at once by `bind`, and an incremental parameter is bound
/// by the runtime as for any resource. Handing over a called resource or a stream instead does not compile:
///
/// ```text
/// #[resource(write_disposition = "merge", primary_key = "id")]
/// async fn get_resource(out: Emit<Value>, key: String, endpoint: Endpoint,
///     #[incremental(cursor = "created")] created: Incremental<i64>) -> ele::Result<()> { .. }
///
/// let resources: Vec<Box<dyn DynResource>> = ENDPOINTS.iter().map(|(key, endpoint)| {
///     let r = from_fn(get_resource).name(*key).bind((key.to_string(), *endpoint));
///     Box::new(r) as Box<dyn DynResource>
/// }).collect();
///
/// from_fn(get_resource(key, endpoint)) // error: `GetResourceResource` is not a resource function
/// ```
pub fn from_fn<F, Args>(f: F) -> FromFn<F>
where
    F: ResourceFn<Args>,
{
    FromFn {
        f,
        name: None,
        table_name: None,
        write_disposition: None,
        primary_key: None,
        merge_key: None,
        max_table_nesting: None,
        selected: None,
    }
}

impl<F> FromFn<F> {
    /// Names the resource (and its default table), as [`ResourceExt::name`] does.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the table the rows go to.
    pub fn table_name(mut self, table: impl Into<String>) -> Self {
        self.table_name = Some(table.into());
        self
    }

    /// Sets the write disposition.
    pub fn write_disposition(mut self, disposition: WriteDisposition) -> Self {
        self.write_disposition = Some(disposition);
        self
    }

    /// Sets the primary key.
    pub fn primary_key(mut self, key: impl Into<Key>) -> Self {
        self.primary_key = Some(key.into());
        self
    }

    /// Sets the merge key.
    pub fn merge_key(mut self, key: impl Into<Key>) -> Self {
        self.merge_key = Some(key.into());
        self
    }

    /// Limits how deep nested data is unfolded into columns and child tables.
    pub fn max_table_nesting(mut self, depth: usize) -> Self {
        self.max_table_nesting = Some(depth);
        self
    }

    /// Selects or deselects the resource in its source, as [`ResourceExt::selected`] does.
    pub fn selected(mut self, selected: bool) -> Self {
        self.selected = Some(selected);
        self
    }

    /// Calls the function with `args`, a tuple in the order of the function's arguments (`(endpoint,)` for
    /// one), and applies the hints given so far to the resource it returns.
    pub fn bind<Args>(self, args: Args) -> <F as ResourceFn<Args>>::Resource
    where
        F: ResourceFn<Args>,
    {
        let mut resource = self.f.call(args);
        if let Some(name) = self.name {
            resource = resource.name(name);
        }
        if let Some(table) = self.table_name {
            resource = resource.table_name(table);
        }
        if let Some(disposition) = self.write_disposition {
            resource = resource.write_disposition(disposition);
        }
        if let Some(key) = self.primary_key {
            resource = resource.primary_key(key);
        }
        if let Some(key) = self.merge_key {
            resource = resource.merge_key(key);
        }
        if let Some(depth) = self.max_table_nesting {
            resource = resource.max_table_nesting(depth);
        }
        if let Some(selected) = self.selected {
            resource = resource.selected(selected);
        }
        resource
    }
}
