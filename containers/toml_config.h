// Deprecated: moved to containers/config/toml_config.h
// (//containers/config:toml_config); include that instead. This forwarding
// header and the deprecated //containers:toml_config target are kept for one
// release, then removed.
#ifndef CONTAINERS_TOML_CONFIG_H_
#define CONTAINERS_TOML_CONFIG_H_

#include "containers/config/toml_config.h"  // IWYU pragma: export

#endif  // CONTAINERS_TOML_CONFIG_H_
