//! `swiftmount generate DIR` (hidden): the man pages and shell completions, made from
//! the same clap definition as the parser so they cannot drift from it.
//! `scripts/install.sh` puts them where man(1) and the shells look.

use crate::cli::Cli;
use clap::CommandFactory;
use clap_complete::Shell;
use std::path::{Path, PathBuf};

/// Writes `swiftmount.1`, `swiftmount-check.1`, `swiftmount.bash`, `_swiftmount` (zsh)
/// and `swiftmount.fish` into `dir`, creating it; returns the files written.
pub fn run(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let cmd = Cli::command();
    clap_mangen::generate_to(cmd.clone(), dir)?;
    let mut written = vec![dir.join("swiftmount.1"), dir.join("swiftmount-check.1")];
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        written.push(clap_complete::generate_to(
            shell,
            &mut cmd.clone(),
            "swiftmount",
            dir,
        )?);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    #[test]
    fn man_page_and_completions_name_the_options() {
        let dir = tempfile::tempdir().unwrap();
        let files = super::run(dir.path()).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "swiftmount.1",
                "swiftmount-check.1",
                "swiftmount.bash",
                "_swiftmount",
                "swiftmount.fish"
            ]
        );
        let man = std::fs::read_to_string(&files[0]).unwrap();
        assert!(man.starts_with(".ie"), "roff: {}", &man[..40]);
        for option in [
            "os\\-cloud",
            "segment\\-size",
            "read\\-only",
            "openstack\\-authuri",
        ] {
            assert!(man.contains(option), "{option} missing from the man page");
        }
        assert!(!man.contains("generate"), "the hidden command stays hidden");
        let check = std::fs::read_to_string(&files[1]).unwrap();
        assert!(check.contains("swiftmount\\-check"), "{check}");
        for file in &files[2..] {
            let text = std::fs::read_to_string(file).unwrap();
            assert!(
                text.contains("segment-size") && text.contains("os-cloud"),
                "{file:?}"
            );
        }
    }
}
