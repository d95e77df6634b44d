#!/bin/sh
# init (PID 1) of the user-mode Linux that tests kernel TLS: the host's
# files are its root (hostfs). The kernel command line passes, as the
# environment: BERTH_SRC, BERTH_BUILD, RESULT (a JSON file the host reads),
# LOG. Phase 1 runs without the tls module (the fallback), phase 2 with it.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
mount -t proc proc /proc
mount -t sysfs sys /sys
exec >"$LOG" 2>&1
ip link set lo up
poweroff() {
    sync
    /usr/bin/python3 -c "import ctypes; ctypes.CDLL(None).reboot(0x4321fedc)"  # RB_POWER_OFF
}
cd "$BERTH_SRC/tests/e2e" || poweroff
/usr/bin/python3 "$BERTH_SRC/tests/ktls/inside.py" fallback
M=/usr/lib/uml/modules/$(uname -r)/kernel
for m in crypto/gf128mul.ko crypto/ghash-generic.ko crypto/ctr.ko crypto/gcm.ko \
         lib/crypto/libchacha.ko crypto/chacha_generic.ko lib/crypto/libpoly1305.ko \
         crypto/poly1305_generic.ko crypto/chacha20poly1305.ko net/tls/tls.ko; do
    insmod "$M/$m" || echo "insmod $m failed"
done
/usr/bin/python3 "$BERTH_SRC/tests/ktls/inside.py" ktls
poweroff
