//! Loading a definitions directory: the three JSON files read and parsed (a syntax
//! error reported with line and column, the other files still read), then handed to
//! the hypervisor, container and VM readers and the cross-guest checks.

use std::borrow::Cow;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use super::diag::{Diagnostic, Diagnostics};
use super::layout::{self, Layout};
use super::model::{Definitions, Guest, KeyTexts};
use super::read;

use super::written::Written;
use super::{ct, dupkeys, dupreport, hypervisor, parse, readfile, skim, vm};
use crate::timing::timed;

/// Read a definitions directory. Always returns what could be read, with every
/// problem found on the way; callers decide whether errors stop them.
pub fn load(dir: &Path) -> (Definitions, Diagnostics) {
    let (mut defs, mut diags) = load_unchecked(dir, KeyTexts::Now);
    timed("cross-guest checks", || super::across::across(&defs)).apply(&mut defs, &mut diags);
    (defs, diags)
}

/// [`load`] but for the cross-guest checks ([`super::across::across`]), which the
/// caller runs: `pipeline::load` runs them beside building the graph. The guests'
/// key texts are written when `texts` says ([`KeyTexts`]).
pub(crate) fn load_unchecked(dir: &Path, texts: KeyTexts) -> (Definitions, Diagnostics) {
    let mut diags = Diagnostics::default();
    let mut defs = nothing_read(dir);
    if !dir.is_dir() {
        diags.push(
            Diagnostic::error(&dir.display().to_string(), "", "definitions directory not found")
                .help("pass --defs DIR or set PHOENIX_DEFS to the folder that holds phoenix_lxc_configs.json"),
        );
        return (defs, diags);
    }

    let file = |rel: &str, required, guests| JsonFile {
        rel: rel.to_string(),
        required,
        guests,
    };
    let host_file = file(&defs.hypervisor_file, true, None);
    if let Some(Value::Object(host)) = read_json(dir, &host_file, &mut diags) {
        defs.host = host;
    }
    hypervisor::read_host(&mut defs, &mut diags);
    let lxc_file = file(&defs.lxc_file, true, Some("lxc_configs"));
    timed("containers read", || {
        read_containers(dir, &lxc_file, &mut defs, &mut diags, texts);
    });
    let vm_file = file(&defs.vm_file, false, Some("vms"));
    if let Some(vms) = read_json(dir, &vm_file, &mut diags) {
        vm::read_vms(&mut defs, vms, &mut diags, texts);
    }
    (defs, diags)
}

/// The definitions of `dir` before anything is read: its layout and file names.
fn nothing_read(dir: &Path) -> Definitions {
    let layout = Layout::detect(dir);
    Definitions {
        dir: dir.to_path_buf(),
        layout,
        hypervisor_file: layout.json(layout::HYPERVISOR_FILE),
        lxc_file: layout.json(layout::LXC_FILE),
        vm_file: layout.json(layout::VM_FILE),
        host: Map::new(),
        lxc_globals: Map::new(),
        vm_defaults: Map::new(),
        guests: super::Guests::default(),
        host_steps: Vec::new(),
    }
}

/// One definition file to read.
pub(crate) struct JsonFile {
    /// Relative to the definitions directory.
    pub rel: String,
    /// Whether its absence is an error.
    pub required: bool,
    /// The top-level key whose values are guests (`lxc_configs`, `vms`): a key written
    /// twice under it with two values is an error, elsewhere a warning (`dupreport`).
    pub guests: Option<&'static str>,
}

/// The container file: each container parsed and read on its own, in parallel
/// ([`parse`]); anything unusual about the file (a syntax error, a top level or
/// `lxc_configs` that is not an object, nesting too deep) through the plain parse of
/// the whole file, which says what is wrong.
fn read_containers(
    dir: &Path,
    file: &JsonFile,
    defs: &mut Definitions,
    diags: &mut Diagnostics,
    texts: KeyTexts,
) {
    let Some(mut bytes) = read_bytes(dir, file, diags) else {
        return;
    };
    if bytes.starts_with(b"\xef\xbb\xbf") {
        bytes.drain(..3);
    }
    // Text (not a copy) shared by every guest's `Written`: each is a slice of it.
    let shared = match String::from_utf8(bytes) {
        Ok(text) => Arc::new(text),
        Err(e) => {
            // The plain parse says where the file is not UTF-8.
            if let Some(lxc) = parse_object(e.as_bytes(), file, diags) {
                ct::read_lxc(defs, lxc, diags, texts);
            }
            return;
        }
    };
    if containers_in_parallel(&shared, file, defs, diags, texts) {
        return;
    }
    if let Some(lxc) = parse_object(shared.as_bytes(), file, diags) {
        ct::read_lxc(defs, lxc, diags, texts);
    }
}

/// [`read_containers`] for a well-formed file; `false`, having changed nothing,
/// when the file needs the plain parse.
///
/// The guests are read while the file is still skimmed: each guest's entry, as it
/// is cut out, joins a batch, and each full batch is parsed and read on whichever
/// core is free ([`skim::containers_file_with`]). The skim is one core's work, a
/// fifth of what reading the guests costs; before, the other core waited for it.
/// A guest whose text does not parse (the skim does not check it) sends the file
/// to the plain parse, as a syntax error the skim finds does. Every entry is read,
/// a key written twice included, and only then is each key's last entry kept, as
/// an object keeps it: the same guests and diagnostics, in the same order, as
/// reading the kept entries alone.
fn containers_in_parallel(
    shared: &Arc<String>,
    file: &JsonFile,
    defs: &mut Definitions,
    diags: &mut Diagnostics,
    texts: KeyTexts,
) -> bool {
    /// Guests per batch: enough that a batch costs far more than handing it over.
    const BATCH: usize = 32;
    let text = shared.as_bytes();
    let host = &defs.host;
    let read_one = |key: &str, raw: &str| -> ReadOne {
        let (parsed, r) = parse::guest(raw)?;
        let start = raw.as_ptr() as usize - shared.as_ptr() as usize;
        let written = Written::new(shared.clone(), start..start + raw.len());
        Some((
            ct::read_container(&file.rel, host, key, parsed, Some(written), texts),
            r,
        ))
    };
    // Each batch's reads, with the number of its first entry.
    let batches: Mutex<Vec<(usize, Batch)>> = Mutex::new(Vec::new());
    let skimmed = rayon::scope(|s| {
        let mut batch = Vec::with_capacity(BATCH);
        let mut first = 0;
        let (read_one, batches) = (&read_one, &batches);
        let send = |first: usize, batch| spawn_batch(s, first, batch, read_one, batches);
        let skimmed = crate::timing::timed("containers skimmed", || {
            skim::containers_file_with(shared, &mut |i, (key, raw)| {
                if batch.is_empty() {
                    first = i;
                }
                batch.push((key.clone(), raw));
                if batch.len() == BATCH {
                    send(
                        first,
                        std::mem::replace(&mut batch, Vec::with_capacity(BATCH)),
                    );
                }
            })
        });
        if !batch.is_empty() {
            send(first, batch);
        }
        // Which entries are kept, worked out here, while the guests are still
        // read: it needs only the skim's cuts. (After the reads, it was 2 to 3
        // ms of one core at 10,000 guests, the other idle.)
        skimmed.map(|(top, repeated)| kept_entries(top, repeated))
    });
    let Some(Kept {
        root,
        places,
        mut repeated,
        cut,
    }) = skimmed.flatten()
    else {
        return false;
    };
    // Every entry cut, in file order: those of each `lxc_configs` written, in
    // turn, in batches of `BATCH` (the last maybe shorter). Entry `i` is looked up
    // in its batch, not copied into one list first (1 ms of one core at 10,000
    // guests, the other waiting).
    let mut batches = batches
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    batches.sort_unstable_by_key(|(first, _)| *first);
    let in_order = batches.iter().enumerate().all(|(k, (first, read))| {
        *first == k * BATCH && (read.entries.len() == BATCH || k + 1 == batches.len())
    });
    // Every text cut must parse, those a later one replaces too: the skim does not
    // check them, and a file that is not JSON goes to the plain parse.
    let entries = || batches.iter().flat_map(|(_, read)| &read.entries);
    if !in_order || entries().count() != cut || entries().any(Option::is_none) {
        return false;
    }
    let mut kept = Vec::with_capacity(places.len());
    let mut found = Vec::with_capacity(places.len());
    for i in places {
        let one = batches
            .get_mut(i / BATCH)
            .and_then(|(_, read)| read.entries.get_mut(i % BATCH))
            .and_then(Option::take);
        let Some((guest, diags, r)) = one else {
            return false;
        };
        kept.extend(guest.map(|(id, at)| (id, i / BATCH, at)));
        found.push(diags);
        repeated |= r;
    }
    // Where a key was written twice, the scan that finds where (`dupkeys`).
    if repeated {
        let duplicates = dupkeys::duplicate_keys(text);
        dupreport::report(&file.rel, text, file.guests, &duplicates, diags);
    }
    ct::set_globals(defs, root);
    // The diagnostics in the order of the kept entries, as
    // `ct::insert_containers` adds them.
    for d in found {
        diags.extend(d);
    }
    let runs = batches.into_iter().map(|(_, read)| read.run).collect();
    defs.guests.add_runs(runs, kept);
    true
}

/// A batch of guests' entries, read ([`spawn_batch`]): the guests side by side
/// in a run of their own ([`super::Guests`]), and for each entry what was read of
/// it, in the order of the entries.
struct Batch {
    run: Vec<Guest>,
    entries: Vec<Entry>,
}

/// A guest's entry read on its own: what `ct::read_container` made of it and
/// whether an object in it repeats a key; `None` when its text is not JSON.
type ReadOne = Option<(ct::ReadContainer, bool)>;

/// An entry of a [`Batch`], read: its guest's ID and index in the batch's run,
/// if it is a guest; what was found wrong; whether an object in it repeats a key.
/// `None`: its text is not JSON.
type Entry = Option<(Option<(u32, usize)>, Diagnostics, bool)>;

/// What [`containers_in_parallel`] keeps of the skim's top-level entries.
struct Kept {
    /// The file's other entries (of a key written twice, the last).
    root: Map<String, Value>,
    /// The places of the guests kept among all the entries cut: those of the
    /// last `lxc_configs` written, of a key written twice the last, in name order.
    places: Vec<usize>,
    /// Whether some key was written twice.
    repeated: bool,
    /// How many entries were cut.
    cut: usize,
}

/// The [`Kept`] of the skim's `top` entries; `repeated` says whether the skim saw
/// a key written twice inside a value. `None` without an `lxc_configs` object.
fn kept_entries(top: parse::TopEntries<'_>, repeated: bool) -> Option<Kept> {
    let cut: usize = top
        .iter()
        .map(|(_, item)| match item {
            parse::Top::Guests(entries) => entries.len(),
            parse::Top::Value(_) => 0,
        })
        .sum();
    // The last `lxc_configs` written is the one kept; its entries are the last cut.
    let (top, r) = parse::as_object(top);
    let repeated = repeated || r;
    let mut root = Map::new();
    let mut configs = None;
    for (key, item) in top {
        match item {
            parse::Top::Guests(entries) => configs = Some(entries),
            parse::Top::Value(value) => {
                root.insert(key.into_owned(), value);
            }
        }
    }
    let entries = configs?;
    let start = cut - entries.len();
    let numbered: Vec<(Cow<'_, str>, usize)> = entries
        .into_iter()
        .enumerate()
        .map(|(i, (key, _))| (key, start + i))
        .collect();
    let (kept, r) = parse::as_object(numbered);
    Some(Kept {
        root,
        places: kept.into_iter().map(|(_, i)| i).collect(),
        repeated: repeated || r,
        cut,
    })
}

/// A batch of guests' entries read on whichever core is free, the reads put with
/// the number of its first entry: each guest, as it is read, moved into the
/// batch's run ([`Batch`]).
fn spawn_batch<'s, 't: 's>(
    s: &rayon::Scope<'s>,
    first: usize,
    batch: Vec<(Cow<'t, str>, &'t str)>,
    read_one: &'s (impl Fn(&str, &str) -> ReadOne + Sync),
    batches: &'s Mutex<Vec<(usize, Batch)>>,
) {
    s.spawn(move |_| {
        let mut run = Vec::with_capacity(batch.len());
        let entries = batch
            .iter()
            .map(|(k, raw)| {
                let ((guest, diags), repeated) = read_one(k, raw)?;
                let at = guest.map(|(id, g)| {
                    run.push(g);
                    (id, run.len() - 1)
                });
                Some((at, diags, repeated))
            })
            .collect();
        batches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((first, Batch { run, entries }));
    });
}

pub(crate) fn read_json(dir: &Path, file: &JsonFile, diags: &mut Diagnostics) -> Option<Value> {
    let bytes = read_bytes(dir, file, diags)?;
    let text = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
    parse_object(text, file, diags)
}

/// The file's bytes; `None`, with the diagnostic, when it cannot be read (or is
/// missing and required).
fn read_bytes(dir: &Path, file: &JsonFile, diags: &mut Diagnostics) -> Option<Vec<u8>> {
    let (rel, required) = (file.rel.as_str(), file.required);
    let path = dir.join(rel);
    match readfile::read_file(&path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if required {
                diags.push(Diagnostic::error(rel, "", "file not found").help(format!(
                    "create `{rel}` in {} or point --defs at the right folder",
                    dir.display()
                )));
            }
            None
        }
        Err(e) => {
            diags.push(
                Diagnostic::error(rel, "", format!("cannot read: {e}"))
                    .help("check the file's permissions"),
            );
            None
        }
    }
}

/// Parse a whole file, which must hold one object; its repeated keys reported.
fn parse_object(text: &[u8], file: &JsonFile, diags: &mut Diagnostics) -> Option<Value> {
    let rel = file.rel.as_str();
    // The duplicate-key pass reads the same bytes: run it beside the real parse.
    let (parsed, duplicates) = rayon::join(
        || serde_json::from_slice::<Value>(text),
        || dupkeys::duplicate_keys(text),
    );
    match parsed {
        Ok(v) if v.is_object() => {
            dupreport::report(rel, text, file.guests, &duplicates, diags);
            Some(v)
        }
        Ok(other) => {
            diags.push(
                Diagnostic::error(
                    rel,
                    "",
                    format!(
                        "expected a JSON object at the top, found {}",
                        read::describe(&other)
                    ),
                )
                .help("the file must hold one object: { ... }"),
            );
            None
        }
        Err(e) => {
            let msg = e.to_string();
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
            diags.push(
                Diagnostic::error(rel, format!("{}:{}", e.line(), e.column()), format!("malformed JSON: {msg}"))
                    .help("fix the syntax at that line and column (often a missing comma or quote just before it)"),
            );
            None
        }
    }
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
