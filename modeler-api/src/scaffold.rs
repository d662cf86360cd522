//! `sluice new-connector NAME [--out DIR]`: writes a connector crate that builds and passes its
//! test as it is (docs/connector-guide.md). Inside a Sluice checkout (a parent `Cargo.toml` whose
//! `[workspace.dependencies]` has `sluice-connector-api`) it uses the workspace's dependencies;
//! elsewhere it is a workspace of its own depending on `connectors/api` by path.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

const LIB: &str = include_str!("scaffold/lib.rs.txt");

/// Where `connectors/api` was when this binary was built: the default path dependency of a
/// connector written outside a checkout.
const BUILT_API: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../connectors/api");

pub fn run(name: &str, out: Option<&Path>, api: Option<&Path>) -> anyhow::Result<ExitCode> {
    check_name(name)?;
    let out = match out {
        Some(dir) => dir.to_path_buf(),
        None => PathBuf::from("connectors").join(name),
    };
    if out.read_dir().is_ok_and(|mut entries| entries.next().is_some()) {
        bail!("{} already exists and is not empty", out.display());
    }
    let absolute = std::env::current_dir().context("cannot read the current directory")?.join(&out);
    let manifest = match (workspace_root(&absolute), api) {
        (Some(root), None) => workspace_manifest(name, &root),
        (_, api) => {
            let api = match api {
                Some(path) => path.to_path_buf(),
                None if Path::new(BUILT_API).join("Cargo.toml").is_file() => PathBuf::from(BUILT_API),
                None => bail!(
                    "{} is not inside a Sluice checkout: give the path of its `connectors/api` with --api",
                    out.display()
                ),
            };
            let api = api.canonicalize().with_context(|| format!("cannot find {}", api.display()))?;
            if !api.join("Cargo.toml").is_file() {
                bail!(
                    "{} has no Cargo.toml: --api names the folder `connectors/api` of a Sluice checkout",
                    api.display()
                );
            }
            standalone_manifest(name, &api)
        }
    };
    std::fs::create_dir_all(out.join("src")).with_context(|| format!("cannot create {}", out.display()))?;
    let lib = LIB.replace("__STRUCT__", &struct_name(name)).replace("__TYPE__", name);
    for (file, text) in [("Cargo.toml", manifest.as_str()), ("src/lib.rs", lib.as_str())] {
        let path = out.join(file);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        println!("{}", path.display());
    }
    let krate = crate_name(name);
    println!(
        "\nNext (docs/connector-guide.md, \"Register it\"); inside a checkout the crate builds once it is a \
         member (`cargo test -p {krate}`), on its own at once (`cargo test` in {dir}):\n\
         - Cargo.toml (the workspace's): add \"{dir}\" to `members` and `{krate} = {{ path = \"{dir}\" }}` to \
           `[workspace.dependencies]`;\n\
         - modeler-api/Cargo.toml: `{krate}.workspace = true` under `[dependencies]`;\n\
         - modeler-api/src/connectors.rs: `.with({lib}::{st})` in `registry_with()`;\n\
         - modeler-api/src/config.rs: its settings, if it has any (a `clap::Args` group in `ConnectorArgs`).",
        dir = out.display(),
        lib = krate.replace('-', "_"),
        st = struct_name(name),
    );
    Ok(ExitCode::SUCCESS)
}

/// A connector type as the scaffold takes it: lower-case letters, digits and `-`, starting with a
/// letter (it names the crate too).
fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--");
    if !ok {
        bail!(
            "`{name}` is not a connector name: use lower-case letters, digits and single `-`, starting with a letter (e.g. `crm-lookup`)"
        );
    }
    Ok(())
}

fn crate_name(name: &str) -> String {
    format!("sluice-connector-{name}")
}

/// `crm-lookup` → `CrmLookup`.
fn struct_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut c = part.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect()
}

/// The Sluice workspace `dir` is in: the nearest ancestor whose `Cargo.toml` declares
/// `sluice-connector-api` among `[workspace.dependencies]`.
fn workspace_root(dir: &Path) -> Option<PathBuf> {
    dir.ancestors().skip(1).find_map(|a| {
        let text = std::fs::read_to_string(a.join("Cargo.toml")).ok()?;
        let deps = text.split_once("[workspace.dependencies]")?.1;
        deps.lines().any(|l| l.trim_start().starts_with("sluice-connector-api")).then(|| a.to_path_buf())
    })
}

fn workspace_manifest(name: &str, _root: &Path) -> String {
    format!(
        r#"[package]
name = "{krate}"
description = "The `{name}` connector"
version.workspace = true
edition.workspace = true
license.workspace = true

[dependencies]
sluice-connector-api.workspace = true
schemars.workspace = true
serde.workspace = true
serde_json.workspace = true

[dev-dependencies]
tokio.workspace = true

[lints]
workspace = true
"#,
        krate = crate_name(name)
    )
}

fn standalone_manifest(name: &str, api: &Path) -> String {
    // The features the workspace builds these crates with, so a shared target folder reuses them.
    format!(
        r#"[package]
name = "{krate}"
description = "The `{name}` connector"
version = "0.1.0"
edition = "2024"
publish = false

# A workspace of its own; inside a Sluice checkout `sluice new-connector` uses the checkout's.
[workspace]

[dependencies]
sluice-connector-api = {{ path = {api:?} }}
schemars = {{ version = "1", default-features = false, features = ["derive", "std"] }}
serde = {{ version = "1", features = ["derive"] }}
serde_json = "1"

[dev-dependencies]
tokio = {{ version = "1", default-features = false, features = ["rt", "time", "sync", "macros"] }}
"#,
        krate = crate_name(name),
        api = api.display().to_string(),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn names() {
        assert_eq!(struct_name("crm-lookup2"), "CrmLookup2");
        assert!(check_name("crm-lookup").is_ok());
        for bad in ["", "Crm", "1crm", "crm-", "crm--x", "crm_x", "crm x", "../x"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn inside_the_checkout_the_workspace_is_found() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("../connectors/new-one");
        let root = workspace_root(&here).unwrap();
        assert!(root.join("connectors/api").is_dir(), "{}", root.display());
        assert_eq!(workspace_root(Path::new("/nowhere/new-one")), None);
    }
}
