// The web view's static files (collector/serve/web/assets/), compiled into the
// binary by embed_assets.py so the collector serves them with no files on
// disk and nothing fetched from the internet.
#ifndef RESDB_TRACE_COLLECTOR_SERVE_WEB_WEB_ASSETS_H_
#define RESDB_TRACE_COLLECTOR_SERVE_WEB_WEB_ASSETS_H_

#include <cstddef>
#include <string_view>

namespace resdb_trace::collector::web {

struct WebAsset {
  std::string_view name;          // file name under assets/, e.g. "app.js"
  std::string_view content_type;  // from the extension
  std::string_view body;          // the file's bytes
};

// The asset named `name`, or null.
const WebAsset* FindWebAsset(std::string_view name);
// Every asset, sorted by name; `*count` receives their number.
const WebAsset* AllWebAssets(size_t* count);

}  // namespace resdb_trace::collector::web

#endif  // RESDB_TRACE_COLLECTOR_SERVE_WEB_WEB_ASSETS_H_
