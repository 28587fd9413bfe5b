//! scripts/install.sh, with the binary the tests built (SWIFTMOUNT_BIN) staged under a
//! DESTDIR: man pages, completions and the systemd unit land where the system looks,
//! and the unit passes `systemd-analyze verify`.

use std::path::Path;
use std::process::Command;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn install_script_places_man_pages_completions_and_unit() {
    let dest = tempfile::tempdir().unwrap();
    let root = dest.path().join("usr/local");
    let said = run(Command::new("scripts/install.sh")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DESTDIR", dest.path())
        .env("PREFIX", "/usr/local")
        .env("SWIFTMOUNT_BIN", env!("CARGO_BIN_EXE_swiftmount")));
    assert!(said.contains("installed swiftmount 0."), "{said}");
    for file in [
        "bin/swiftmount",
        "share/man/man1/swiftmount.1",
        "share/man/man1/swiftmount-check.1",
        "share/bash-completion/completions/swiftmount",
        "share/zsh/site-functions/_swiftmount",
        "share/fish/vendor_completions.d/swiftmount.fish",
        "lib/systemd/system/swiftmount@.service",
    ] {
        assert!(root.join(file).is_file(), "{file} not installed");
    }
    assert!(
        dest.path()
            .join("etc/swiftmount/swiftmount.conf.example")
            .is_file()
    );
    let man = std::fs::read_to_string(root.join("share/man/man1/swiftmount.1")).unwrap();
    for option in [
        "os\\-cloud",
        "segment\\-size",
        "allow\\-other",
        "dir\\-cache\\-ttl",
    ] {
        assert!(man.contains(option), "{option} missing from the man page");
    }
    // bash loads the completion and binds it to swiftmount
    let bound = run(Command::new("bash").arg("-c").arg(format!(
        "source {} && complete -p swiftmount",
        root.join("share/bash-completion/completions/swiftmount")
            .display()
    )));
    assert!(bound.contains("swiftmount"), "{bound}");
    verify_unit(&root);
}

/// `systemd-analyze verify` on an instance of the installed template, pointed at the
/// staged binary (it checks that ExecStart exists) and man page (Documentation=).
fn verify_unit(root: &Path) {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("systemd-analyze is not installed: unit not verified");
        return;
    }
    let unit =
        std::fs::read_to_string(root.join("lib/systemd/system/swiftmount@.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/local/bin/swiftmount --foreground"),
        "{unit}"
    );
    let units = tempfile::tempdir().unwrap();
    let instance = units.path().join("swiftmount@test.service");
    let staged = root.join("bin/swiftmount");
    std::fs::write(
        &instance,
        unit.replace("/usr/local/bin/swiftmount", staged.to_str().unwrap()),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&instance)
        .env("MANPATH", root.join("share/man"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    // other units on the machine may have complaints of their own; ours must have none
    let ours: Vec<&str> = said.lines().filter(|l| l.contains("swiftmount")).collect();
    assert!(out.status.success() && ours.is_empty(), "{said}");
}
