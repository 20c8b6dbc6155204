// Deprecated: moved to containers/config/config_watcher.h
// (//containers/config:config_watcher); include that instead. This forwarding
// header and the deprecated //containers:config_watcher target are kept for one
// release, then removed.
#ifndef CONTAINERS_CONFIG_WATCHER_H_
#define CONTAINERS_CONFIG_WATCHER_H_

#include "containers/config/config_watcher.h"  // IWYU pragma: export

#endif  // CONTAINERS_CONFIG_WATCHER_H_
