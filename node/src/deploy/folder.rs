//! Reading a version folder on this node for `deploy --path`: the
//! manifest, then exactly the files it names, each a regular file opened
//! without following symlinks or blocking, within the upload size cap.
//! Nothing else in the folder is read, so a path such as `/proc` or `/dev`
//! yields a clear refusal, never a hung read or a copy of a device.

use std::io::Read;
use std::path::Path;

use super::DeployError;
use crate::repository::{MANIFEST_FILE, Manifest};

/// Largest manifest file read.
const MAX_MANIFEST: u64 = 1 << 20;

/// Reads the manifest and the files it names from `dir` (an absolute
/// path), `max_total` bytes at most in all. Blocking: call it off the
/// async workers.
pub(crate) fn read_version_folder(
    dir: &Path,
    max_total: u64,
) -> Result<Vec<(String, Vec<u8>)>, DeployError> {
    if !dir.is_absolute() {
        return Err(DeployError::BadRequest(format!(
            "the version folder '{}' must be an absolute path on the node (the node does not \
             know the CLI's working folder)",
            dir.display()
        )));
    }
    let mut left = max_total;
    let manifest_bytes = match read_file(dir, MANIFEST_FILE, MAX_MANIFEST.min(left)) {
        Ok(bytes) => bytes,
        Err(ReadError::Missing) => Vec::new(),
        Err(e) => return Err(e.into_deploy(dir, MANIFEST_FILE)),
    };
    left -= manifest_bytes.len() as u64;
    let manifest = Manifest::parse(&String::from_utf8_lossy(&manifest_bytes))
        .map_err(|e| DeployError::BadRequest(format!("{}/{MANIFEST_FILE}: {e}", dir.display())))?;
    let mut files = vec![(MANIFEST_FILE.to_string(), manifest_bytes)];
    for (_, name) in manifest.referenced_files() {
        if files.iter().any(|(n, _)| n == name) {
            continue;
        }
        match read_file(dir, name, left) {
            Ok(bytes) => {
                left -= bytes.len() as u64;
                files.push((name.to_string(), bytes));
            }
            // The deploy pipeline says which file it missed, and why.
            Err(ReadError::Missing) => {}
            Err(e) => return Err(e.into_deploy(dir, name)),
        }
    }
    Ok(files)
}

/// Why one file was not read.
#[derive(Debug)]
enum ReadError {
    /// No such file.
    Missing,
    /// Not a regular file (a folder, device, pipe or socket), or a symlink.
    NotRegular,
    /// Larger than what is left of the cap.
    TooLarge(u64),
    /// Any other failure.
    Io(std::io::Error),
}

impl ReadError {
    fn into_deploy(self, dir: &Path, name: &str) -> DeployError {
        let path = dir.join(name);
        DeployError::BadRequest(match self {
            ReadError::Missing => format!("{} does not exist", path.display()),
            ReadError::NotRegular => format!(
                "{} is not a regular file (symlinks, devices and pipes are not read)",
                path.display()
            ),
            ReadError::TooLarge(cap) => format!(
                "{} is larger than the {} left of the upload limit ([admin] max_upload)",
                path.display(),
                crate::units::ByteSize(cap)
            ),
            ReadError::Io(e) => format!("cannot read {}: {e}", path.display()),
        })
    }
}

/// Reads `dir/name` if it is a regular file of at most `cap` bytes.
fn read_file(dir: &Path, name: &str, cap: u64) -> Result<Vec<u8>, ReadError> {
    let path = dir.join(name);
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // No symlink is followed, and a read that would block (a FIFO, a
        // kernel log) fails instead of hanging the deploy.
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = options.open(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ReadError::Missing,
        _ if e.raw_os_error() == Some(libc::ELOOP) => ReadError::NotRegular,
        _ => ReadError::Io(e),
    })?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if !meta.file_type().is_file() {
        return Err(ReadError::NotRegular);
    }
    if meta.len() > cap {
        return Err(ReadError::TooLarge(cap));
    }
    // The size can lie (files under /proc say 0), so the read is capped
    // on its own.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > cap {
        return Err(ReadError::TooLarge(cap));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeserve_test_support::tempfile;

    #[test]
    fn reads_only_what_the_manifest_names() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(
            p.join(MANIFEST_FILE),
            "[smoke_test]\nrequest = \"smoke.json\"\n",
        )
        .unwrap();
        std::fs::write(p.join("model.wasm"), b"wasm").unwrap();
        std::fs::write(p.join("smoke.json"), b"{}").unwrap();
        std::fs::write(p.join("unrelated.bin"), b"not read").unwrap();
        let files = read_version_folder(p, 1 << 20).unwrap();
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, [MANIFEST_FILE, "model.wasm", "smoke.json"]);
    }

    #[test]
    fn refuses_relative_paths_links_pipes_and_oversize_files() {
        let err = read_version_folder(Path::new("v3"), 1 << 20).unwrap_err();
        assert!(err.to_string().contains("absolute path"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(p.join(MANIFEST_FILE), "").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", p.join("model.wasm")).unwrap();
        let err = read_version_folder(p, 1 << 20).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");

        std::fs::remove_file(p.join("model.wasm")).unwrap();
        std::fs::write(p.join("model.wasm"), vec![0u8; 4096]).unwrap();
        let err = read_version_folder(p, 1000).unwrap_err();
        assert!(err.to_string().contains("larger than"), "{err}");

        // A manifest pointing outside the folder is refused before any read.
        std::fs::write(p.join(MANIFEST_FILE), "component = \"/etc/hostname\"\n").unwrap();
        let err = read_version_folder(p, 1 << 20).unwrap_err();
        assert!(err.to_string().contains("must be a file name"), "{err}");

        // A pipe is never read (and never blocks the deploy).
        std::fs::write(p.join(MANIFEST_FILE), "").unwrap();
        std::fs::remove_file(p.join("model.wasm")).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(p.join("model.wasm"))
            .status()
            .unwrap();
        assert!(made.success());
        let err = read_version_folder(p, 1 << 20).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }
}
