// Deprecated: moved to containers/config/json_config.h
// (//containers/config:json_config); include that instead. This forwarding
// header and the deprecated //containers:json_config target are kept for one
// release, then removed.
#ifndef CONTAINERS_JSON_CONFIG_H_
#define CONTAINERS_JSON_CONFIG_H_

#include "containers/config/json_config.h"  // IWYU pragma: export

#endif  // CONTAINERS_JSON_CONFIG_H_
