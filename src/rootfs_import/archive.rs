//! Reading an image tarball: `docker save` output (`manifest.json`, Docker's format, which
//! Docker 25 and later also lay out as OCI blobs) or an OCI image layout (`oci-layout`,
//! `index.json`, `blobs/<alg>/<hex>`), as tar. The tarball is read in place: one pass over
//! its headers finds every member, and each layer is then read where it lies, so an image of
//! any size needs no second copy on disk.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use oci_spec::image::{Arch, Descriptor, ImageIndex, ImageManifest, Os};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::ImportError;

/// Metadata files are small; anything larger is not one.
const MAX_JSON: u64 = 16 << 20;
/// An index that points at indexes: followed at most this deep.
const MAX_INDEX_DEPTH: usize = 4;

/// Which of the two formats a tarball was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    DockerSave,
    OciLayout,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::DockerSave => "docker-save",
            Format::OciLayout => "oci-layout",
        }
    }
}

/// Where a member's data lies in the tarball.
#[derive(Clone, Copy, Debug)]
struct Member {
    offset: u64,
    size: u64,
}

/// One layer to apply: the member that holds it and, for a content-addressed blob, the
/// sha256 it must have.
#[derive(Clone, Debug)]
pub struct LayerRef {
    pub member: String,
    pub sha256: Option<String>,
}

/// An image found in a tarball: its layers, bottom first.
#[derive(Clone, Debug)]
pub struct ImageTarball {
    pub path: PathBuf,
    pub format: Format,
    pub layers: Vec<LayerRef>,
    /// The sha256 of the image's config (Docker's image id), a stable content key.
    pub config_sha256: String,
    pub tags: Vec<String>,
    members: HashMap<String, Member>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SaveManifest {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

impl ImageTarball {
    /// Reads the tarball's table of contents and finds its one image.
    pub fn open(path: &Path) -> Result<ImageTarball, ImportError> {
        let bad = |reason: String| ImportError::NotAnImage {
            tarball: path.to_path_buf(),
            reason,
        };
        let mut file = File::open(path).map_err(|e| ImportError::Io {
            action: format!("open {}", path.display()),
            source: e,
        })?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut magic = [0u8; 4];
        let n = file.read(&mut magic).unwrap_or(0);
        if n >= 2 && magic[..2] == [0x1f, 0x8b] {
            return Err(bad(
                "it is gzip-compressed: decompress it first (`gunzip -k`), then import the .tar"
                    .into(),
            ));
        }
        file.seek(SeekFrom::Start(0)).map_err(|e| ImportError::Io {
            action: format!("read {}", path.display()),
            source: e,
        })?;
        let members = scan(file, len).map_err(|e| match e {
            ScanError::Truncated(r) => ImportError::Truncated {
                tarball: path.to_path_buf(),
                reason: r,
            },
            ScanError::Tar(r) => bad(format!("it is not a readable tar archive: {r}")),
        })?;
        if members.is_empty() {
            return Err(bad("it is not a tar archive (no entry found)".into()));
        }
        let mut image = ImageTarball {
            path: path.to_path_buf(),
            format: Format::DockerSave,
            layers: Vec::new(),
            config_sha256: String::new(),
            tags: Vec::new(),
            members,
        };
        if image.members.contains_key("manifest.json") {
            image.read_docker_save()?;
        } else if image.members.contains_key("index.json") {
            image.format = Format::OciLayout;
            image.read_oci_layout()?;
        } else {
            return Err(bad(
                "it has neither manifest.json (docker save) nor index.json (OCI image layout)"
                    .into(),
            ));
        }
        if image.layers.is_empty() {
            return Err(bad("its image has no layers".into()));
        }
        for l in &image.layers {
            if !image.members.contains_key(&l.member) {
                return Err(bad(format!(
                    "layer {} is listed but not in the tarball",
                    l.member
                )));
            }
        }
        Ok(image)
    }

    fn not_an_image(&self, reason: String) -> ImportError {
        ImportError::NotAnImage {
            tarball: self.path.clone(),
            reason,
        }
    }

    fn read_docker_save(&mut self) -> Result<(), ImportError> {
        let text = self.read_small("manifest.json")?;
        let manifests: Vec<SaveManifest> = serde_json::from_slice(&text)
            .map_err(|e| self.not_an_image(format!("manifest.json: {e}")))?;
        let [m] = manifests.as_slice() else {
            return Err(self.not_an_image(format!(
                "manifest.json lists {} images; save one image per tarball",
                manifests.len()
            )));
        };
        let config = self.read_small(&normalise(&m.config))?;
        self.config_sha256 = format!("{:x}", Sha256::digest(&config));
        self.tags = m.repo_tags.clone().unwrap_or_default();
        self.layers = m
            .layers
            .iter()
            .map(|l| {
                let member = normalise(l);
                LayerRef {
                    sha256: blob_sha256(&member),
                    member,
                }
            })
            .collect();
        Ok(())
    }

    fn read_oci_layout(&mut self) -> Result<(), ImportError> {
        let index: ImageIndex = self.read_json("index.json")?;
        let mut descriptors = index.manifests().clone();
        for _ in 0..MAX_INDEX_DEPTH {
            let chosen = self.choose(&descriptors)?;
            if let Some(tag) = chosen
                .annotations()
                .as_ref()
                .and_then(|a| a.get("org.opencontainers.image.ref.name"))
            {
                self.tags.push(tag.clone());
            }
            let digest = chosen.digest().to_string();
            let member = blob_member(&digest)
                .ok_or_else(|| self.not_an_image(format!("unsupported digest {digest}")))?;
            // A descriptor may point at an image manifest or at another index: which one is
            // told by what the document holds.
            let doc: serde_json::Value = self.read_json(&member)?;
            if doc.get("layers").is_some() {
                let manifest: ImageManifest = self.parse_doc(&member, doc)?;
                let config = manifest.config().digest().to_string();
                self.config_sha256 = config
                    .strip_prefix("sha256:")
                    .unwrap_or(&config)
                    .to_string();
                self.layers = manifest
                    .layers()
                    .iter()
                    .map(|l| {
                        let digest = l.digest().to_string();
                        let member = blob_member(&digest).ok_or_else(|| {
                            self.not_an_image(format!("unsupported layer digest {digest}"))
                        })?;
                        let t = l.media_type().to_string();
                        if t.contains("zstd") {
                            return Err(self.not_an_image(format!(
                                "layer {digest} is zstd-compressed ({t}), which dindcheck cannot read"
                            )));
                        }
                        Ok(LayerRef {
                            sha256: blob_sha256(&member),
                            member,
                        })
                    })
                    .collect::<Result<_, _>>()?;
                return Ok(());
            }
            if doc.get("manifests").is_none() {
                let media_type = doc.get("mediaType").and_then(|t| t.as_str());
                return Err(self.not_an_image(format!(
                    "{member} ({}) is neither an index nor an image manifest",
                    media_type.unwrap_or_default()
                )));
            }
            let nested: ImageIndex = self.parse_doc(&member, doc)?;
            descriptors = nested.manifests().clone();
        }
        Err(self.not_an_image("indexes nested too deep".into()))
    }

    /// The one manifest to use: the only one, or the linux/amd64 one.
    fn choose<'a>(&self, descriptors: &'a [Descriptor]) -> Result<&'a Descriptor, ImportError> {
        match descriptors {
            [] => Err(self.not_an_image("index.json lists no manifest".into())),
            [d] => Ok(d),
            many => many
                .iter()
                .find(|d| {
                    d.platform()
                        .as_ref()
                        .is_some_and(|p| *p.os() == Os::Linux && *p.architecture() == Arch::Amd64)
                })
                .ok_or_else(|| {
                    self.not_an_image(format!(
                        "the index lists {} manifests and none for linux/amd64; export one image",
                        many.len()
                    ))
                }),
        }
    }

    /// `doc`, read from `member`, as the document it should be.
    fn parse_doc<T: serde::de::DeserializeOwned>(
        &self,
        member: &str,
        doc: serde_json::Value,
    ) -> Result<T, ImportError> {
        serde_json::from_value(doc).map_err(|e| self.not_an_image(format!("{member}: {e}")))
    }

    fn read_json<T: serde::de::DeserializeOwned>(&self, member: &str) -> Result<T, ImportError> {
        let bytes = self.read_small(member)?;
        serde_json::from_slice(&bytes).map_err(|e| self.not_an_image(format!("{member}: {e}")))
    }

    fn read_small(&self, member: &str) -> Result<Vec<u8>, ImportError> {
        let m = self.members.get(member).ok_or_else(|| {
            self.not_an_image(format!("{member} is listed but not in the tarball"))
        })?;
        if m.size > MAX_JSON {
            return Err(self.not_an_image(format!("{member} is too large for a metadata file")));
        }
        let mut buf = Vec::with_capacity(m.size as usize);
        self.member_reader(member)?
            .read_to_end(&mut buf)
            .map_err(|e| ImportError::Io {
                action: format!("read {member} from {}", self.path.display()),
                source: e,
            })?;
        Ok(buf)
    }

    /// The data of `member`, read where it lies in the tarball.
    pub fn member_reader(&self, member: &str) -> Result<impl Read + use<>, ImportError> {
        let m = *self
            .members
            .get(member)
            .ok_or_else(|| self.not_an_image(format!("{member} is not in the tarball")))?;
        let io = |e| ImportError::Io {
            action: format!("read {member} from {}", self.path.display()),
            source: e,
        };
        let mut f = File::open(&self.path).map_err(io)?;
        f.seek(SeekFrom::Start(m.offset)).map_err(io)?;
        Ok(f.take(m.size))
    }
}

/// A layer's bytes, decompressed when gzip'd, hashed as they are read.
pub struct LayerStream<R: Read> {
    inner: BufReader<Hashing<R>>,
}

impl<R: Read> LayerStream<R> {
    pub fn new(reader: R) -> Self {
        LayerStream {
            inner: BufReader::with_capacity(
                1 << 20,
                Hashing {
                    inner: reader,
                    hasher: Sha256::new(),
                },
            ),
        }
    }

    /// The decompressed tar stream.
    pub fn tar(&mut self) -> std::io::Result<Box<dyn Read + '_>> {
        let head = self.inner.fill_buf()?;
        if head.starts_with(&[0x1f, 0x8b]) {
            Ok(Box::new(flate2::bufread::MultiGzDecoder::new(
                &mut self.inner,
            )))
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Err(std::io::Error::other(
                "the layer is zstd-compressed, which dindcheck cannot read",
            ))
        } else {
            Ok(Box::new(&mut self.inner))
        }
    }

    /// Reads what the tar reader left (the archive's padding) and returns the sha256 of all
    /// the bytes.
    pub fn finish(mut self) -> std::io::Result<String> {
        std::io::copy(&mut self.inner, &mut std::io::sink())?;
        let hashing = self.inner.into_inner();
        Ok(format!("{:x}", hashing.hasher.finalize()))
    }
}

struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

enum ScanError {
    Truncated(String),
    Tar(String),
}

/// Every member of the tarball and where its data lies. An entry whose data would end past
/// the end of the file means the tarball was cut short.
fn scan(file: File, len: u64) -> Result<HashMap<String, Member>, ScanError> {
    let mut archive = tar::Archive::new(file);
    let mut members = HashMap::new();
    let entries = archive
        .entries_with_seek()
        .map_err(|e| ScanError::Tar(e.to_string()))?;
    for entry in entries {
        let entry = entry.map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                ScanError::Truncated(format!("a tar header is cut short ({e})"))
            } else {
                ScanError::Tar(e.to_string())
            }
        })?;
        let offset = entry.raw_file_position();
        let size = entry.size();
        let name = normalise(&String::from_utf8_lossy(&entry.path_bytes()));
        if offset.saturating_add(size) > len {
            return Err(ScanError::Truncated(format!(
                "{name} should end at byte {}, but the file has {len} bytes",
                offset + size
            )));
        }
        if entry.header().entry_type().is_file() {
            members.insert(name, Member { offset, size });
        }
    }
    Ok(members)
}

/// `./a/b` → `a/b`.
fn normalise(member: &str) -> String {
    member.trim_start_matches("./").to_string()
}

/// `sha256:<hex>` → `blobs/sha256/<hex>`.
fn blob_member(digest: &str) -> Option<String> {
    let (alg, hex) = digest.split_once(':')?;
    let valid = matches!(alg, "sha256" | "sha512")
        && !hex.is_empty()
        && hex.bytes().all(|b| b.is_ascii_hexdigit());
    valid.then(|| format!("blobs/{alg}/{hex}"))
}

/// The sha256 a member named `blobs/sha256/<hex>` must have.
fn blob_sha256(member: &str) -> Option<String> {
    let hex = member.strip_prefix("blobs/sha256/")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| hex.to_lowercase())
}
