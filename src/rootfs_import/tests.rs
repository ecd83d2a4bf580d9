//! Unit tests of the import with small tarballs made here: whiteouts, ownership, refused
//! paths, truncated and non-image tarballs, both formats, and that a failed import leaves
//! nothing behind. They need root (ownership, device nodes), as dindcheck does.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::*;

/// One entry of a test layer.
enum E<'a> {
    Dir(&'a str),
    File(&'a str, &'a str),
    Owned(&'a str, u64, u32),
    Link(&'a str, &'a str),
    Hard(&'a str, &'a str),
    CharDev(&'a str, u32, u32),
    /// A raw name, written without the tar crate's checks (as an attacker would).
    Raw(&'a str),
}

fn layer(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        let (path, data): (&str, &[u8]) = match e {
            E::Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                (p, b"")
            }
            E::File(p, text) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                (p, text.as_bytes())
            }
            E::Owned(p, uid, mode) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_uid(*uid);
                h.set_gid(*uid);
                h.set_mode(*mode);
                (p, b"x")
            }
            E::Link(p, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_link_name(target).unwrap();
                (p, b"")
            }
            E::Hard(p, target) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o644);
                h.as_gnu_mut().unwrap().linkname[..target.len()].copy_from_slice(target.as_bytes());
                (p, b"")
            }
            E::CharDev(p, major, minor) => {
                h.set_entry_type(tar::EntryType::Char);
                h.set_mode(0o666);
                h.set_device_major(*major).unwrap();
                h.set_device_minor(*minor).unwrap();
                (p, b"")
            }
            E::Raw(p) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.as_gnu_mut().unwrap().name[..p.len()].copy_from_slice(p.as_bytes());
                h.set_size(1);
                h.set_cksum();
                b.append(&h, &b"x"[..]).unwrap();
                continue;
            }
        };
        h.set_size(data.len() as u64);
        h.set_path(path).unwrap();
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

fn apply(root: &Path, entries: &[E<'_>]) -> Result<LayerStats, ImportError> {
    layer::apply(root, &layer(entries)[..], "test-layer")
}

/// A fresh root with one layer of `entries` applied.
fn applied(entries: &[E<'_>]) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    apply(root.path(), entries).unwrap();
    root
}

#[test]
fn whiteouts_remove_files_and_opaque_directories_empty_what_lower_layers_left() {
    let root = applied(&[
        E::Dir("etc"),
        E::File("etc/gone", "a"),
        E::File("etc/kept", "b"),
        E::Dir("var/lib/docker"),
        E::File("var/lib/docker/old", "c"),
    ]);
    let r = root.path();
    let stats = apply(
        r,
        &[
            E::File("etc/.wh.gone", ""),
            // A file this layer adds before the opaque marker stays: only what the layers
            // below left is hidden.
            E::File("var/lib/docker/new", "d"),
            E::File("var/lib/docker/.wh..wh..opq", ""),
        ],
    )
    .unwrap();
    assert_eq!((stats.whiteouts, stats.opaque_dirs), (1, 1));
    assert!(!r.join("etc/gone").exists());
    assert!(r.join("etc/kept").exists());
    assert!(!r.join("etc/.wh.gone").exists());
    assert!(!r.join("var/lib/docker/old").exists());
    assert!(r.join("var/lib/docker/new").exists());
    assert!(!r.join("var/lib/docker/.wh..wh..opq").exists());
}

#[test]
fn ownership_modes_and_device_nodes_are_kept() {
    let root = applied(&[
        E::Owned("usr/bin/suid", 1000, 0o4755),
        E::CharDev("dev/null", 1, 3),
        E::Link("bin", "usr/bin"),
    ]);
    let r = root.path();
    let m = std::fs::metadata(r.join("usr/bin/suid")).unwrap();
    assert_eq!((m.uid(), m.gid()), (1000, 1000));
    assert_eq!(m.permissions().mode() & 0o7777, 0o4755);
    let dev = std::fs::metadata(r.join("dev/null")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(
        &dev.file_type()
    ));
    assert_eq!(dev.rdev(), rustix::fs::makedev(1, 3));
    assert_eq!(
        std::fs::read_link(r.join("bin")).unwrap(),
        Path::new("usr/bin")
    );
}

#[test]
fn a_later_entry_replaces_a_symlink_instead_of_writing_through_it() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let r = root.path();
    let target = outside.path().join("victim");
    std::fs::write(&target, "host file").unwrap();
    apply(r, &[E::Link("f", target.to_str().unwrap())]).unwrap();
    apply(r, &[E::File("f", "image file")]).unwrap();
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "host file");
    assert_eq!(std::fs::read_to_string(r.join("f")).unwrap(), "image file");
}

#[test]
fn path_traversal_is_refused() {
    for (entries, why) in [
        (vec![E::Raw("../escape")], "`..` component"),
        (vec![E::Raw("/etc/escape")], "absolute"),
        (
            vec![E::Link("up", "../../../.."), E::File("up/escape", "x")],
            "leads out of the root filesystem",
        ),
        (vec![E::Hard("h", "../../etc/passwd")], "`..` component"),
    ] {
        let root = tempfile::tempdir().unwrap();
        let err = apply(root.path(), &entries).unwrap_err().to_string();
        assert!(err.contains(why), "expected `{why}` in: {err}");
        assert!(!root.path().parent().unwrap().join("escape").exists());
    }
}

#[test]
fn an_absolute_symlink_on_the_way_resolves_inside_the_root() {
    // `conf` is `/etc` within the root: `conf/x` lands in the root's `etc`, not the host's.
    let entries = [
        E::Dir("etc"),
        E::Link("conf", "/etc"),
        E::File("conf/x", "y"),
    ];
    let root = applied(&entries);
    let x = std::fs::read_to_string(root.path().join("etc/x")).unwrap();
    assert_eq!(x, "y");
}

#[test]
fn hard_links_link_within_the_root() {
    let root = applied(&[
        E::File("usr/bin/a", "same"),
        E::Hard("usr/bin/b", "usr/bin/a"),
    ]);
    let r = root.path();
    let (a, b) = (
        std::fs::metadata(r.join("usr/bin/a")).unwrap(),
        std::fs::metadata(r.join("usr/bin/b")).unwrap(),
    );
    assert_eq!(a.ino(), b.ino());
}

/// Adds a regular file to an image tarball.
fn add(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    b.append_data(&mut h, path, data).unwrap();
}

/// A `docker save` tarball of `layers` (bottom first).
fn docker_save(layers: &[Vec<u8>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let config_name = format!("{:x}.json", Sha256::digest(config));
    add(&mut b, &config_name, config);
    let mut names = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let name = format!("layer{i}/layer.tar");
        add(&mut b, &name, l);
        names.push(name);
    }
    let manifest = serde_json::json!([{
        "Config": config_name, "RepoTags": ["test:1"], "Layers": names
    }]);
    add(&mut b, "manifest.json", manifest.to_string().as_bytes());
    b.into_inner().unwrap()
}

/// An OCI image layout tarball with gzip'd layers.
fn oci_layout(layers: &[Vec<u8>]) -> Vec<u8> {
    oci_layout_with(layers, None)
}

/// The same, the last layer's blob holding `swapped` (gzip'd) under the name of the real one.
fn oci_layout_with(layers: &[Vec<u8>], swapped: Option<&[u8]>) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let blob_as = |b: &mut tar::Builder<Vec<u8>>, named: &[u8], data: &[u8]| {
        let hex = format!("{:x}", Sha256::digest(named));
        add(b, &format!("blobs/sha256/{hex}"), data);
        format!("sha256:{hex}")
    };
    let blob = |b: &mut tar::Builder<Vec<u8>>, data: &[u8]| blob_as(b, data, data);
    let gzip = |data: &[u8]| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(data).unwrap();
        gz.finish().unwrap()
    };
    let config = blob(&mut b, br#"{"architecture":"amd64","os":"linux"}"#);
    let mut descs = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let real = gzip(l);
        let d = match swapped {
            Some(other) if i == layers.len() - 1 => blob_as(&mut b, &real, &gzip(other)),
            _ => blob(&mut b, &real),
        };
        descs.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": 0
        }));
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 0},
        "layers": descs,
    });
    let m = blob(&mut b, manifest.to_string().as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": m, "size": 0,
                       "annotations": {"org.opencontainers.image.ref.name": "test:1"}}],
    });
    add(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    add(&mut b, "index.json", index.to_string().as_bytes());
    b.into_inner().unwrap()
}

fn two_layers() -> Vec<Vec<u8>> {
    vec![
        layer(&[
            E::Dir("usr/bin"),
            E::File("usr/bin/dockerd", "#!/bin/sh\n"),
            E::File("etc/old", "x"),
            E::File(
                "var/lib/dpkg/status",
                "Package: docker.io\nStatus: install ok installed\nVersion: 28.5.2+dfsg4-5\n\n\
                 Package: containerd\nStatus: install ok installed\nVersion: 2.1.9+ds1-5\n\n\
                 Package: runc\nStatus: install ok installed\nVersion: 1.3.6+ds1-1\n",
            ),
        ]),
        layer(&[E::File("etc/.wh.old", ""), E::File("etc/new", "y")]),
    ]
}

fn home_with_inventory() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("inventory.toml"),
        "home = \"/x\"\nkernel = \"6\"\n\n[[rootfs]]\nname = \"bookworm\"\npath = \"/x/rootfs/bookworm\"\n\
         docker = \"20.10.24\"\ncontainerd = \"1.6\"\nrunc = \"1.1\"\n",
    )
    .unwrap();
    home
}

fn import(home: &Path, tarball: &[u8], name: &str) -> Result<Imported, ImportError> {
    let file = home.join("input.tar");
    std::fs::write(&file, tarball).unwrap();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(import_image(&file, name, home, None))
}

#[test]
fn both_formats_import_into_a_named_rootfs_listed_in_the_inventory() {
    for (tarball, format) in [
        (docker_save(&two_layers()), Format::DockerSave),
        (oci_layout(&two_layers()), Format::OciLayout),
    ] {
        let home = home_with_inventory();
        let imported = import(home.path(), &tarball, "mine").unwrap();
        assert_eq!(imported.format, format);
        assert_eq!(imported.layers.len(), 2);
        let root = home.path().join("rootfs/mine");
        assert!(root.join("usr/bin/dockerd").exists());
        assert!(!root.join("etc/old").exists());
        assert!(root.join("etc/new").exists());
        let inv = Inventory::load(home.path()).unwrap();
        let r = inv
            .rootfs("mine")
            .expect("the imported rootfs is in the inventory");
        assert_eq!(
            (r.docker.as_str(), r.containerd.as_str(), r.runc.as_str()),
            ("28.5.2+dfsg4-5", "2.1.9+ds1-5", "1.3.6+ds1-1")
        );
        let from = r.imported.as_ref().unwrap();
        assert_eq!(from.format, format.as_str());
        assert_eq!(from.tags, ["test:1"]);
        // Importing again replaces it.
        assert!(import(home.path(), &tarball, "mine").unwrap().replaced);
        assert_eq!(ImportedRootfs::load(home.path()).unwrap().rootfs.len(), 1);
    }
}

/// Nothing of a failed import is left: no rootfs, no staging directory, no inventory entry.
fn assert_nothing_left(home: &Path, name: &str) {
    let left: Vec<_> = std::fs::read_dir(home.join("rootfs"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in rootfs/: {left:?}");
    assert!(Inventory::load(home).unwrap().rootfs(name).is_none());
}

#[test]
fn a_truncated_tarball_is_refused_and_leaves_nothing() {
    let full = docker_save(&two_layers());
    // Cut inside the first layer's data, and just before the end.
    for cut in [1536, full.len() - 1536] {
        let home = home_with_inventory();
        let err = import(home.path(), &full[..cut], "cut").unwrap_err();
        assert!(
            matches!(
                err,
                ImportError::Truncated { .. } | ImportError::LayerRead { .. }
            ),
            "{err}"
        );
        assert_nothing_left(home.path(), "cut");
    }
}

#[test]
fn a_layer_blob_that_fails_its_digest_is_refused_and_leaves_nothing() {
    let home = home_with_inventory();
    let other = layer(&[E::File("etc/other", "z")]);
    let tarball = oci_layout_with(&two_layers(), Some(&other));
    let err = import(home.path(), &tarball, "bad").unwrap_err();
    assert!(matches!(err, ImportError::Digest { .. }), "{err}");
    assert_nothing_left(home.path(), "bad");
}

#[test]
fn a_tarball_that_is_no_image_is_refused() {
    let home = home_with_inventory();
    let plain = layer(&[E::File("hello.txt", "hi")]);
    let err = import(home.path(), &plain, "plain")
        .unwrap_err()
        .to_string();
    assert!(err.contains("neither manifest.json"), "{err}");
    let err = import(home.path(), &[7u8; 4096], "noise")
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a"), "{err}");
    let err = import(home.path(), b"", "empty").unwrap_err().to_string();
    assert!(err.contains("not a tar archive"), "{err}");
    assert_nothing_left(home.path(), "plain");
}

#[test]
fn an_image_without_dockerd_or_a_setup_name_is_refused() {
    let home = home_with_inventory();
    let no_dockerd = docker_save(&[layer(&[E::File("bin/sh", "")])]);
    let err = import(home.path(), &no_dockerd, "nod")
        .unwrap_err()
        .to_string();
    assert!(err.contains("no dockerd"), "{err}");
    assert_nothing_left(home.path(), "nod");
    let err = import(home.path(), &docker_save(&two_layers()), "bookworm")
        .unwrap_err()
        .to_string();
    assert!(err.contains("was not imported"), "{err}");
    let err = import(home.path(), &docker_save(&two_layers()), "../x")
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid root filesystem name"), "{err}");
}
