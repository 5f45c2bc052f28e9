//! The Debian packages (docs/operations.md, "Debian packages"), built by
//! `scripts/build-debs.sh` from this build's binaries: each holds what its
//! role needs; the default config files are accepted by the binaries they
//! configure; the systemd units pass `systemd-analyze verify` and its
//! security audit; the postinst creates the service user once, and does not
//! wait for a draining executor on an upgrade.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use baton_tests::*;

fn run(command: &mut Command) -> Outcome {
    run_with_timeout(command, Duration::from_secs(300))
}

fn build(out: &Path) -> Vec<String> {
    let built = run(Command::new("bash")
        .arg(repo_root().join("scripts/build-debs.sh"))
        .arg(bin_dir())
        .arg(out)
        .env("BATON_DEB_COMPRESSION", "none"));
    built.ok();
    built.stdout.lines().map(str::to_owned).collect()
}

fn contents(deb: &str) -> String {
    run(Command::new("dpkg-deb").args(["-c", deb]))
        .ok()
        .stdout
        .clone()
}

#[test]
fn each_role_has_a_package_with_its_binary_unit_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let debs = build(&dir.path().join("debs"));
    assert_eq!(debs.len(), 3, "{debs:?}");
    let deb = |name: &str| {
        debs.iter()
            .find(|d| d.contains(&format!("/{name}_")))
            .unwrap_or_else(|| panic!("no {name} package in {debs:?}"))
            .clone()
    };
    for role in ["scheduler", "executor"] {
        let package = format!("baton-{role}");
        let deb = deb(&package);
        let listed = contents(&deb);
        for file in [
            format!("./usr/bin/{package}"),
            format!("./lib/systemd/system/{package}.service"),
            format!("./etc/baton/{role}.toml"),
        ] {
            assert!(listed.contains(&file), "{deb} lacks {file}:\n{listed}");
        }
        let fields = run(Command::new("dpkg-deb").args(["-f", &deb, "Package", "Depends"]));
        assert!(fields.ok().stdout.contains(&format!("Package: {package}")));

        // The control files: the config is a conffile, the scripts parse.
        let control = dir.path().join(format!("{package}-control"));
        run(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&control)).ok();
        let conffiles = std::fs::read_to_string(control.join("conffiles")).unwrap();
        assert_eq!(conffiles.trim(), format!("/etc/baton/{role}.toml"));
        for script in ["postinst", "prerm", "postrm"] {
            run(Command::new("sh").arg("-n").arg(control.join(script))).ok();
        }
        postinst_creates_the_user_once(&control.join("postinst"), dir.path(), &package);
        let postinst = std::fs::read_to_string(control.join("postinst")).unwrap();
        assert!(
            postinst.contains(&format!("UNIT=\"{package}\""))
                && postinst.contains("systemctl --no-block try-restart \"$UNIT.service\""),
            "{postinst}"
        );

        // The shipped config is one the binary takes.
        let tree = dir.path().join(format!("{package}-tree"));
        run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&tree)).ok();
        let printed = run(Command::new(tree.join(format!("usr/bin/{package}")))
            .arg("--config")
            .arg(tree.join(format!("etc/baton/{role}.toml")))
            .arg("--print-config"));
        let printed = printed.ok().stdout.clone();
        assert!(printed.contains("# file"), "{printed}");

        let unit = tree.join(format!("lib/systemd/system/{package}.service"));
        let text = std::fs::read_to_string(&unit).unwrap();
        for line in [
            "User=baton",
            &format!("ExecStart=/usr/bin/{package} --config /etc/baton/{role}.toml"),
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
        ] {
            assert!(text.contains(line), "{package}.service lacks {line}");
        }
        units_pass_systemds_checks(&unit, &package);
    }
    let client = contents(&deb("baton"));
    for file in [
        "./usr/bin/baton",
        "./usr/share/man/man1/baton.1.gz",
        "./usr/share/man/man1/baton-run.1.gz",
        "./usr/share/bash-completion/completions/baton",
    ] {
        assert!(
            client.contains(file),
            "the client package lacks {file}:\n{client}"
        );
    }
}

/// `systemd-analyze verify` finds nothing but the binary not installed
/// here, and its security audit rates the unit OK (where systemd is).
fn units_pass_systemds_checks(unit: &Path, package: &str) {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("systemd-analyze is not installed: unit checks skipped");
        return;
    }
    let verified = run(Command::new("systemd-analyze")
        .args(["--man=no", "verify"])
        .arg(unit));
    let complaints: Vec<&str> = verified
        .stderr
        .lines()
        .filter(|l| !l.contains("is not executable"))
        .collect();
    assert!(complaints.is_empty(), "{package}: {complaints:?}");
    let audit = run(Command::new("systemd-analyze")
        .args(["security", "--offline=yes"])
        .arg(unit));
    let level: f64 = audit
        .stdout
        .lines()
        .chain(audit.stderr.lines())
        .find_map(|l| l.split("exposure level for ").nth(1))
        .and_then(|rest| rest.split(": ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level: {audit:?}"));
    assert!(level <= 4.0, "{package}: exposure {level}");
}

/// Runs the postinst with stand-ins for getent, useradd and systemctl: a
/// first install creates the user; an upgrade, with the user there, does not.
fn postinst_creates_the_user_once(postinst: &Path, dir: &Path, package: &str) {
    let stubs = dir.join(format!("{package}-stubs"));
    std::fs::create_dir_all(&stubs).unwrap();
    let calls = stubs.join("calls");
    for (tool, code) in [
        ("getent", "exit \"$(cat \"$STUBS/getent-code\")\""),
        ("useradd", "exit 0"),
        ("systemctl", "exit 0"),
    ] {
        let path = stubs.join(tool);
        std::fs::write(
            &path,
            format!("#!/bin/sh\necho {tool} \"$@\" >> \"$STUBS/calls\"\n{code}\n"),
        )
        .unwrap();
        run(Command::new("chmod").arg("+x").arg(&path)).ok();
    }
    let path = format!(
        "{}:{}",
        stubs.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let postinst_with = |getent: &str, args: &[&str]| {
        std::fs::write(stubs.join("getent-code"), getent).unwrap();
        let _ = std::fs::remove_file(&calls);
        run(Command::new("sh")
            .arg(postinst)
            .args(args)
            .env("PATH", &path)
            .env("STUBS", &stubs))
        .ok();
        std::fs::read_to_string(&calls).unwrap_or_default()
    };
    let first = postinst_with("2", &["configure"]);
    assert!(
        first.contains("useradd --system --user-group"),
        "{package}: {first}"
    );
    let upgrade = postinst_with("0", &["configure", "0.0.1"]);
    assert!(!upgrade.contains("useradd"), "{package}: {upgrade}");
}

#[test]
fn a_missing_binary_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let built = run(Command::new("bash")
        .arg(repo_root().join("scripts/build-debs.sh"))
        .arg(dir.path())
        .arg(dir.path().join("debs")));
    assert_ne!(built.code, 0);
    assert!(
        built.stderr.contains("baton is missing"),
        "{}",
        built.stderr
    );
}
