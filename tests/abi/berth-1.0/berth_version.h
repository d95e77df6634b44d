/* berth's version, made by the build from meson.build's project version
 * (include/meson.build); included by berth.h, installed beside it. */
#ifndef BERTH_VERSION_H
#define BERTH_VERSION_H

#define BERTH_VERSION_MAJOR 1
#define BERTH_VERSION_MINOR 0
#define BERTH_VERSION_PATCH 0
#define BERTH_VERSION "1.0.0"
/* major << 16 | minor << 8 | patch: compare with berth_version(). */
#define BERTH_VERSION_NUM ((BERTH_VERSION_MAJOR << 16) | (BERTH_VERSION_MINOR << 8) | BERTH_VERSION_PATCH)

#endif
