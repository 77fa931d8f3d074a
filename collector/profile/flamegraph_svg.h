// A self-contained SVG flamegraph of a ProfileData, rendered here (no Perl,
// no external resources): one rectangle per frame, root at the bottom,
// widths proportional to samples, siblings in name order, colours by module
// (kernel, marker and unknown frames in their own colours), a <title> per
// frame for tooltips and text search, a module legend. A small embedded
// script adds click-to-zoom, a details line and regex search; without it
// the image still shows everything.
#ifndef RESDB_TRACE_COLLECTOR_PROFILE_FLAMEGRAPH_SVG_H_
#define RESDB_TRACE_COLLECTOR_PROFILE_FLAMEGRAPH_SVG_H_

#include <string>
#include <string_view>

#include "collector/profile/folded.h"
#include "collector/profile/profile_data.h"

namespace resdb_trace::collector::profile {

struct FlamegraphOptions {
  // Split towers by process / phase (kernel_suffix is ignored: kernel
  // frames have their own colour).
  StackOptions stacks;
  // Document and heading title; empty: "CPU flamegraph".
  std::string title;
  // Image width in pixels (at least 200).
  int width = 1200;
  // Height of one frame row and the label font size, in pixels.
  int frame_height = 16;
  int font_size = 12;
  // Frames narrower than this many pixels are left out (with their
  // callees), as flamegraph.pl does.
  double min_frame_px = 0.1;
  // Embed the zoom/search script.
  bool script = true;
};

std::string RenderFlamegraphSvg(const ProfileData& data,
                                const FlamegraphOptions& options = {});

// `text` escaped for XML character data and attribute values, with bytes
// that are not valid UTF-8 or not allowed in XML 1.0 replaced by '?'.
std::string EscapeXml(std::string_view text);

}  // namespace resdb_trace::collector::profile

#endif  // RESDB_TRACE_COLLECTOR_PROFILE_FLAMEGRAPH_SVG_H_
