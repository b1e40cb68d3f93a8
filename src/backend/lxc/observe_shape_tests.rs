//! The shape of a container beside its definition: the template marker, the
//! clone source its root filesystem shows, and an id map on files it shares.

use super::*;

#[test]
fn the_shape_is_the_template_marker_the_clone_source_and_a_map_on_shared_files() {
    let tmp = tempfile::tempdir().unwrap();
    let d = defs(tmp.path(), &tmp.path().join("share"));
    let lxc = host(tmp.path(), false);
    let g = ctx(&d);
    let mut log = Log::sink();
    let shape = |lxc: &Lxc| lxc.observe(&g, &mut Log::sink()).unwrap().shape;
    assert_eq!(
        shape(&lxc),
        [Setting::new(
            "is_template",
            "phoenix-template",
            Some("0".into()),
            Some("0".into())
        )]
    );
    // A converted template where the definition makes none.
    std::fs::write(lxc.dir("phx-950").join("phoenix-template"), "template\n").unwrap();
    let o = lxc.observe(&g, &mut log).unwrap();
    assert!(o.template);
    assert_eq!(o.shape_mismatches().count(), 1);
    assert!(
        !o.settings.iter().any(|s| s.name == "/etc/init.d/rcS"),
        "configure leaves a template's files"
    );
    std::fs::remove_file(lxc.dir("phx-950").join("phoenix-template")).unwrap();
    // A snapshot clone of 901, itself one of 900: its overlay shows 900, its
    // rdepends 901 last.
    let p = lxc.lxcpath.display().to_string();
    let lower = lxc.dir("phx-900").join("rootfs");
    let upper = lxc.dir("phx-950").join("overlay/delta");
    edit(
        &lxc,
        "lxc.rootfs.path",
        Some(&format!(
            "lxc.rootfs.path = overlay:{}:{}",
            lower.display(),
            upper.display()
        )),
    );
    let clone = |lxc: &Lxc| {
        shape(lxc)
            .into_iter()
            .find(|s| s.field == "clone_from_ctid")
            .map(|s| (s.name, s.live, s.want))
    };
    assert_eq!(
        clone(&lxc),
        Some(("lxc.rootfs.path".into(), Some("ct:900".into()), None))
    );
    std::fs::write(
        lxc.dir("phx-950").join("lxc_rdepends"),
        format!("{p}\nphx-900\n{p}\nphx-901\n"),
    )
    .unwrap();
    assert_eq!(
        clone(&lxc),
        Some(("lxc_rdepends".into(), Some("ct:901".into()), None))
    );
    // On an overlay, the map cannot change in place: it is shape.
    let o = lxc.observe(&g, &mut log).unwrap();
    assert!(!o.settings.iter().any(|s| s.name == "lxc.idmap"));
    assert!(
        !o.shape.iter().any(|s| s.name == "lxc.idmap"),
        "none either side"
    );
    edit(&lxc, "lxc.uts.name", Some("lxc.idmap = u 0 100000 65536"));
    let o = lxc.observe(&g, &mut log).unwrap();
    let map = o.shape.iter().find(|s| s.name == "lxc.idmap").unwrap();
    assert_eq!(
        (map.field.as_str(), map.want.as_deref()),
        ("unprivileged", None)
    );
    // The rootfs files are read through the overlay: lower, then upper.
    std::fs::create_dir_all(lower.join("etc/init.d")).unwrap();
    std::fs::write(lower.join("etc/init.d/rcS"), super::super::RCS).unwrap();
    let rcs = |lxc: &Lxc| {
        let o = lxc.observe(&g, &mut Log::sink()).unwrap();
        o.settings
            .into_iter()
            .find(|s| s.name == "/etc/init.d/rcS")
            .and_then(|s| s.live)
    };
    assert_eq!(rcs(&lxc).as_deref(), Some("phoenix's boot script"));
    std::fs::create_dir_all(upper.join("etc/init.d")).unwrap();
    std::fs::write(upper.join("etc/init.d/rcS"), "#!/bin/sh\n").unwrap();
    assert_eq!(rcs(&lxc).as_deref(), Some("another boot script"));
}
