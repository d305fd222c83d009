#!/bin/busybox sh
# The lab guest's /init (busybox, in the initramfs): load the 9p modules, mount the host's root read-only plus
# the job and modules shares, then chroot into the host root and run the job's stage2.sh; power off after.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
say() { echo "lab-init: $*" > /dev/console; }

# A watchdog: power off after lab_timeout seconds (kernel command line) whatever the job is doing.
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    lab_timeout=*) timeout="${arg#lab_timeout=}" ;;
    lab_project=*) project="${arg#lab_project=}" ;;
  esac
done
if [ -n "${timeout:-}" ]; then
  ( sleep "$timeout"; say "guest timeout after $timeout s, powering off"; poweroff -f ) &
fi

# Dependency order matters: virtio_ring before virtio, netfs and fscache before 9p.
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci netfs fscache 9pnet 9pnet_virtio 9p; do
  [ -f "/lab/ko/$m.ko" ] && { insmod "/lab/ko/$m.ko" || say "insmod $m failed"; }
done

opts=trans=virtio,version=9p2000.L,msize=512000
mkdir -p /host
if mount -t 9p -o "$opts,ro,cache=loose" hostroot /host; then
  mount -t proc proc /host/proc
  mount -t sysfs sys /host/sys
  mount -t devtmpfs dev /host/dev
  mkdir -p /host/dev/pts /host/dev/shm
  mount -t devpts devpts /host/dev/pts
  # The project may live under a folder the guest replaces with its own tmpfs (a CI clone in /tmp): keep it.
  case "${project:-}" in
    /tmp/*|/run/*|/dev/shm/*) mkdir -p /keep && mount -o bind "/host$project" /keep && keep=1 ;;
  esac
  for d in /host/tmp /host/run /host/dev/shm; do mount -t tmpfs tmpfs "$d"; done
  if [ -n "${keep:-}" ]; then mkdir -p "/host$project" && mount -o bind /keep "/host$project"; fi
  mkdir -p /host/run/lab/job /host/run/lab/modules
  mount -t 9p -o "$opts" labjob /host/run/lab/job
  mount -t 9p -o "$opts,ro,cache=loose" labmods /host/run/lab/modules
  # The kernel's module autoload runs this helper from the initramfs root, so it chroots first.
  echo /lab/modprobe > /proc/sys/kernel/modprobe
  if [ -f /host/run/lab/job/stage2.sh ]; then
    chroot /host /bin/sh /run/lab/job/stage2.sh
    say "stage2 exited $?"
  else
    say "no stage2.sh in the job share"
  fi
  sync
  umount /host/run/lab/job
else
  say "cannot mount the host root over 9p"
fi
poweroff -f
