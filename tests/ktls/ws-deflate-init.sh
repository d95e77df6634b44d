#!/bin/sh
# init (PID 1) of the user-mode Linux that runs permessage-deflate over
# kernel TLS (tests/e2e/test_ws_deflate_ktls.py): as uml-init.sh, with the
# tls module loaded, then tests/ktls/ws_deflate_inside.py. The kernel
# command line passes BERTH_SRC, BERTH_BUILD, RESULT and LOG as the
# environment.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
mount -t proc proc /proc
mount -t sysfs sys /sys
exec >"$LOG" 2>&1
ip link set lo up
M=/usr/lib/uml/modules/$(uname -r)/kernel
for m in crypto/gf128mul.ko crypto/ghash-generic.ko crypto/ctr.ko crypto/gcm.ko \
         lib/crypto/libchacha.ko crypto/chacha_generic.ko lib/crypto/libpoly1305.ko \
         crypto/poly1305_generic.ko crypto/chacha20poly1305.ko net/tls/tls.ko; do
    insmod "$M/$m" || echo "insmod $m failed"
done
cd "$BERTH_SRC/tests/e2e" && /usr/bin/python3 "$BERTH_SRC/tests/ktls/ws_deflate_inside.py"
sync
/usr/bin/python3 -c "import ctypes; ctypes.CDLL(None).reboot(0x4321fedc)"  # RB_POWER_OFF
