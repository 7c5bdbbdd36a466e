//! `group`: run several of the example NFs co-located in one process and one thread with
//! [`sluice_nf::Group`]. Packets from one member to another are handed over by function call
//! instead of through a ring; each member is still its own instance to sluiced, and runs the
//! same code as its standalone binary.
//!
//! The group file lists the members:
//!
//! ```toml
//! [[member]]
//! nf = "firewall"        # speed-tester | monitor | forward | l2fwd | firewall | flow-tracker | nat
//! service = "fw"         # service id or name
//! name = "fw-1"          # optional tag (default: "<nf>-<member number>")
//! args = ["--rules", "rules.toml"]   # the NF's own options, as on its command line
//! ```

#![warn(missing_docs)]

use std::path::Path;

use clap::{Args, Parser};
use sluice_nf::NetworkFunction;

/// The NFs a group can hold, by the name used in `nf = "..."`.
pub const NF_NAMES: [&str; 7] = [
    "speed-tester",
    "monitor",
    "forward",
    "l2fwd",
    "firewall",
    "flow-tracker",
    "nat",
];

/// One `[[member]]` of the group file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberSpec {
    /// Which NF (one of [`NF_NAMES`]).
    pub nf: String,
    /// Service id or name.
    pub service: String,
    /// Tag.
    pub name: String,
    /// The NF's own options.
    pub args: Vec<String>,
}

const MEMBER_KEYS: &str = "nf, service, name, args";

fn member(t: &toml::Table, k: usize) -> Result<MemberSpec, (String, String)> {
    let field = |f: &str, e: String| (f.to_string(), e);
    for key in t.keys() {
        if !MEMBER_KEYS.split(", ").any(|x| x == key) {
            return Err(field(
                key,
                format!("unknown field (expected one of {MEMBER_KEYS})"),
            ));
        }
    }
    let nf = match t.get("nf") {
        None => {
            return Err(field(
                "nf",
                format!("missing (one of {})", NF_NAMES.join(", ")),
            ))
        }
        Some(toml::Value::String(s)) if NF_NAMES.contains(&s.as_str()) => s.clone(),
        Some(v) => {
            return Err(field(
                "nf",
                format!("{v} is not one of {}", NF_NAMES.join(", ")),
            ));
        }
    };
    let service = match t.get("service") {
        None => return Err(field("service", "missing (a service id or name)".into())),
        Some(toml::Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        Some(toml::Value::Integer(i)) if (1..=64).contains(i) => i.to_string(),
        Some(v) => {
            return Err(field(
                "service",
                format!("{v} is not a service id 1-64 or name"),
            ))
        }
    };
    let name = match t.get("name") {
        None => format!("{nf}-{k}"),
        Some(toml::Value::String(s)) if !s.is_empty() => s.clone(),
        Some(v) => {
            return Err(field(
                "name",
                format!("expected a non-empty string, found {v}"),
            ))
        }
    };
    let args = match t.get("args") {
        None => Vec::new(),
        Some(toml::Value::Array(a)) => a
            .iter()
            .map(|v| match v {
                toml::Value::String(s) => Ok(s.clone()),
                toml::Value::Integer(i) => Ok(i.to_string()),
                other => Err(field("args", format!("{other} is not a string"))),
            })
            .collect::<Result<_, _>>()?,
        Some(v) => {
            return Err(field(
                "args",
                format!("expected a list of strings like [\"--dest\", \"2\"], found {v}"),
            ));
        }
    };
    Ok(MemberSpec {
        nf,
        service,
        name,
        args,
    })
}

/// Parse a group file's text; errors start with `file` and name the member (from 1).
pub fn parse_group(text: &str, file: &str) -> Result<Vec<MemberSpec>, String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        format!("{file}: not valid TOML: {}", e.to_string().trim_end())
    })?;
    let mut members = Vec::new();
    for (k, v) in &table {
        if k != "member" {
            let hint = if k == "members" {
                " (the sections are [[member]])"
            } else {
                ""
            };
            return Err(format!(
                "{file}: unknown key `{k}`{hint}: expected [[member]] sections"
            ));
        }
        let arr = v
            .as_array()
            .ok_or_else(|| format!("{file}: `member` must be written as [[member]] sections"))?;
        for (i, m) in arr.iter().enumerate() {
            let t = m
                .as_table()
                .ok_or_else(|| format!("{file}: member {}: must be a [[member]] section", i + 1))?;
            members.push(
                member(t, i + 1)
                    .map_err(|(f, e)| format!("{file}: member {}: field `{f}`: {e}", i + 1))?,
            );
        }
    }
    if members.is_empty() {
        return Err(format!(
            "{file}: no [[member]] sections: a group needs at least one NF"
        ));
    }
    let mut names = std::collections::HashSet::new();
    for (i, m) in members.iter().enumerate() {
        if !names.insert(m.name.as_str()) {
            return Err(format!(
                "{file}: member {}: name {:?} is used twice",
                i + 1,
                m.name
            ));
        }
    }
    Ok(members)
}

/// Read and parse a group file.
pub fn load_group(path: &Path) -> anyhow::Result<Vec<MemberSpec>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("reading group file {}: {e}", path.display()))?;
    parse_group(&text, &path.display().to_string()).map_err(anyhow::Error::msg)
}

#[derive(Parser)]
struct W<T: Args> {
    #[command(flatten)]
    o: T,
}

/// Parse `args` with the options of NF `nf` (clap's message on error, without its
/// "error: " prefix).
pub fn parse_opts<T: Args>(nf: &str, args: &[String]) -> Result<T, String> {
    let argv = std::iter::once(nf.to_string()).chain(args.iter().cloned());
    W::<T>::try_parse_from(argv).map(|w| w.o).map_err(|e| {
        let s = e.to_string();
        let s = s.strip_prefix("error: ").unwrap_or(&s);
        let s = s.split("\n\nFor more information").next().unwrap_or(s);
        s.trim_end().to_string()
    })
}

fn make<T: Args, N: NetworkFunction + 'static>(
    spec: &MemberSpec,
    build: impl FnOnce(&T) -> anyhow::Result<N>,
) -> Result<Box<dyn NetworkFunction>, String> {
    let o = parse_opts::<T>(&spec.nf, &spec.args)?;
    build(&o)
        .map(|n| Box::new(n) as Box<dyn NetworkFunction>)
        .map_err(|e| format!("{e:#}"))
}

/// Build the NF of one member from its options.
pub fn build_member(spec: &MemberSpec) -> Result<Box<dyn NetworkFunction>, String> {
    use sluice_nf_firewall as fw;
    use sluice_nf_flow_tracker as ft;
    use sluice_nf_forward as fwd;
    use sluice_nf_l2fwd as l2;
    use sluice_nf_monitor as mon;
    use sluice_nf_nat as nat;
    use sluice_nf_speed_tester as st;
    match spec.nf.as_str() {
        "speed-tester" => make::<st::Opts, _>(spec, st::build),
        "monitor" => make::<mon::Opts, _>(spec, mon::build),
        "forward" => make::<fwd::Opts, _>(spec, fwd::build),
        "l2fwd" => make::<l2::Opts, _>(spec, l2::build),
        "firewall" => make::<fw::Opts, _>(spec, fw::build),
        "flow-tracker" => make::<ft::Opts, _>(spec, ft::build),
        "nat" => make::<nat::Opts, _>(spec, nat::build),
        other => Err(format!(
            "unknown NF {other:?} (one of {})",
            NF_NAMES.join(", ")
        )),
    }
}

/// Build every member; errors name the file, member number and NF.
pub fn build_members(
    specs: &[MemberSpec],
    file: &str,
) -> anyhow::Result<Vec<(MemberSpec, Box<dyn NetworkFunction>)>> {
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            build_member(s)
                .map(|nf| (s.clone(), nf))
                .map_err(|e| anyhow::anyhow!("{file}: member {} ({}): {e}", i + 1, s.nf))
        })
        .collect()
}

#[cfg(test)]
mod tests;
