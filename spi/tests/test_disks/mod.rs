//! Disks a test can break: a small tmpfs that fills up or turns read-only, and an ext4 image
//! on a loop device that can be frozen (`fsfreeze`, which tmpfs does not support). Mounting
//! needs root; without it a test skips through [`can_mount`] (a failure under `CI=true`,
//! where the suite runs as root). Every disk is thawed and unmounted on drop, pass or fail.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::process::Command;

/// Whether this runs as root, which mounting needs; otherwise skips `test`.
pub(crate) fn can_mount(test: &str) -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root {
        test_skips::skip_or_fail(
            test,
            "needs root to mount a small tmpfs or a loop device (run the suite as root, as .ci/run does)",
        );
    }
    root
}

fn run(program: &str, args: &[&str], path: &Path) {
    let status = Command::new(program)
        .args(args)
        .arg(path)
        .status()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        status.success(),
        "{program} {args:?} {} failed",
        path.display()
    );
}

/// A tmpfs of a few MiB, unmounted on drop.
pub(crate) struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    pub(crate) fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        run(
            "mount",
            &["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"],
            dir.path(),
        );
        Self { dir }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a filler file until the disk is full.
    pub(crate) fn fill(&self) {
        let mut f = std::fs::File::create(self.path().join("filler")).expect("filler");
        let block = vec![0x5Au8; 64 * 1024];
        // Bounded by the disk's size: each write either fills more of it or fails.
        while f.write_all(&block).is_ok() {}
        // The last partial block may have gone in; keep going byte-wise to the last byte.
        while f.write_all(&[0]).is_ok() {}
    }

    pub(crate) fn free(&self) {
        std::fs::remove_file(self.path().join("filler")).expect("remove filler");
    }

    pub(crate) fn remount(&self, option: &str) {
        run("mount", &["-o", &format!("remount,{option}")], self.path());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// A 32 MiB ext4 image mounted through a loop device, which `fsfreeze` can freeze: a write
/// to a frozen file system blocks in the kernel until it is thawed.
pub(crate) struct FreezableDisk {
    mount: tempfile::TempDir,
    _image_dir: tempfile::TempDir,
    frozen: bool,
}

impl FreezableDisk {
    pub(crate) fn mount() -> Self {
        let image_dir = tempfile::tempdir().expect("temp dir");
        let image = image_dir.path().join("disk.img");
        std::fs::File::create(&image)
            .and_then(|f| f.set_len(32 << 20))
            .expect("image file");
        run("mkfs.ext4", &["-q", "-F"], &image);
        let mount = tempfile::tempdir().expect("temp dir");
        let status = Command::new("mount")
            .args(["-o", "loop"])
            .arg(&image)
            .arg(mount.path())
            .status()
            .expect("mount -o loop");
        assert!(status.success(), "mount -o loop failed (no loop device?)");
        Self {
            mount,
            _image_dir: image_dir,
            frozen: false,
        }
    }

    pub(crate) fn path(&self) -> &Path {
        self.mount.path()
    }

    pub(crate) fn freeze(&mut self) {
        run("fsfreeze", &["--freeze"], self.mount.path());
        self.frozen = true;
    }

    pub(crate) fn thaw(&mut self) {
        if self.frozen {
            run("fsfreeze", &["--unfreeze"], self.mount.path());
            self.frozen = false;
        }
    }
}

impl Drop for FreezableDisk {
    fn drop(&mut self) {
        // Thawed first, always: a frozen file system would hang every later writer,
        // this test's host process included.
        if self.frozen {
            let _ = Command::new("fsfreeze")
                .arg("--unfreeze")
                .arg(self.mount.path())
                .status();
        }
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.mount.path())
            .status();
    }
}
