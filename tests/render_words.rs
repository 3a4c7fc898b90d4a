//! The workspace's interface words as `canvass check` sees them: a misspelt `ui:` key is
//! reported at its line and column with the key it most likely means, never skipped.

use assert_cmd::Command;

#[test]
fn an_unknown_word_key_is_an_error_naming_the_nearest_key() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("surveys/s")).unwrap();
    std::fs::write(
        root.join("surveys/s/survey.yaml"),
        "id: s\nversion: 1\nlocales: [lt]\ntitle: Apklausa\n\
         questions:\n  - { id: q, type: yes_no, text: Ar patiko? }\n",
    )
    .unwrap();
    std::fs::write(
        root.join("canvass.yaml"),
        "ui:\n  lt:\n    submit: Pateikti\n    aplies_other: Atsakykite, jei tinka\n",
    )
    .unwrap();
    let output = Command::cargo_bin("canvass")
        .unwrap()
        .arg("--workspace")
        .arg(root)
        .args(["check", "--color", "never"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("canvass.yaml:4:5: error[E010]: unknown key `aplies_other` in `ui/lt`"),
        "{stdout}"
    );
    assert!(stdout.contains("did you mean `applies_other`?"), "{stdout}");
    assert!(
        !stdout.contains("`submit`"),
        "a known key is fine: {stdout}"
    );
}
