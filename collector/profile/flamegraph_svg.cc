#include "collector/profile/flamegraph_svg.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "lib/catalogue.h"

namespace resdb_trace::collector::profile {
namespace {

constexpr int kPad = 10;             // left/right margin
constexpr int kHeader = 64;          // title, subtitle, controls
constexpr int kFooter = 44;          // details line and legend
constexpr double kCharWidth = 0.59;  // of the font size, Verdana-like

enum class NodeKind { kRoot, kSplit, kUser, kKernel, kMarker, kUnknown };

struct Node {
  std::string label;
  std::string module;  // base name, for colour and tooltip
  NodeKind kind = NodeKind::kUser;
  uint64_t count = 0;
  std::map<std::string, size_t> children;  // by label: name order
};

struct Rgb {
  int r, g, b;
};

uint32_t Fnv1a(std::string_view s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

Rgb Hsl(double h, double s, double l) {
  auto f = [&](double n) {
    double k = std::fmod(n + h / 30.0, 12.0);
    double a = s * std::min(l, 1.0 - l);
    double v = l - a * std::max(-1.0, std::min({k - 3.0, 9.0 - k, 1.0}));
    return static_cast<int>(std::lround(v * 255.0));
  };
  return {f(0), f(8), f(4)};
}

double ModuleHue(std::string_view module) {
  // user code in warm and green hues; blue is the kernel's
  return std::fmod(Fnv1a(module) % 1000 * 0.16, 160.0);
}

Rgb ColourOf(const Node& n) {
  const uint32_t v = Fnv1a(n.label);
  const double jitter = static_cast<double>(v % 1000) / 1000.0;
  switch (n.kind) {
    case NodeKind::kRoot:
      return {220, 220, 220};
    case NodeKind::kSplit:
      return Hsl(270, 0.30, 0.80 + 0.06 * jitter);
    case NodeKind::kKernel:
      return Hsl(205, 0.50, 0.62 + 0.12 * jitter);
    case NodeKind::kMarker:
      return {176, 176, 176};
    case NodeKind::kUnknown:
      return Hsl(ModuleHue(n.module), 0.15, 0.72 + 0.08 * jitter);
    case NodeKind::kUser:
      break;
  }
  return Hsl(ModuleHue(n.module), 0.60 + 0.15 * jitter, 0.55 + 0.12 * jitter);
}

std::string Css(Rgb c) {
  return absl::StrFormat("rgb(%d,%d,%d)", c.r, c.g, c.b);
}

std::string Percent(uint64_t n, uint64_t total) {
  return absl::StrFormat("%.2f%%", total == 0 ? 0.0 : 100.0 * n / total);
}

// Length in bytes of the valid UTF-8 sequence at s[i], or 0.
size_t Utf8Length(std::string_view s, size_t i) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80           ? 1
             : (c >> 5) == 0x6  ? 2
             : (c >> 4) == 0xe  ? 3
             : (c >> 3) == 0x1e ? 4
                                : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return 0;
  }
  return n;
}

// The zoom/search script: frames carry their sample offset (data-x), width
// (data-w) and depth (data-d), so zooming is exact integer arithmetic.
constexpr char kScript[] = R"JS(
(function () {
  var svg = document.documentElement;
  var W = +svg.getAttribute('data-width'), PAD = +svg.getAttribute('data-pad');
  var CW = +svg.getAttribute('data-charw');
  var frames = document.getElementById('frames');
  var details = document.getElementById('details');
  var matched = document.getElementById('matched');
  var all = frames.getElementsByTagName('g');
  function fit(g, px) {
    var t = g.getElementsByTagName('text')[0], label = g.getAttribute('data-l');
    var n = Math.floor((px - 6) / CW);
    t.textContent = n < 3 ? '' : (label.length <= n ? label : label.substring(0, n - 2) + '..');
  }
  function place(g, x, w) {
    var r = g.getElementsByTagName('rect')[0], t = g.getElementsByTagName('text')[0];
    r.setAttribute('x', x); r.setAttribute('width', w);
    t.setAttribute('x', x + 3); fit(g, w);
  }
  function zoom(node) {
    var x = +node.getAttribute('data-x'), w = +node.getAttribute('data-w');
    var d = +node.getAttribute('data-d'), scale = (W - 2 * PAD) / w;
    for (var i = 0; i < all.length; i++) {
      var g = all[i], gx = +g.getAttribute('data-x'), gw = +g.getAttribute('data-w');
      var gd = +g.getAttribute('data-d');
      if (gx + gw <= x || gx >= x + w) { g.style.display = 'none'; continue; }
      g.style.display = '';
      if (gd < d) { g.style.opacity = 0.6; place(g, PAD, W - 2 * PAD); }
      else { g.style.opacity = 1; place(g, PAD + (gx - x) * scale, gw * scale); }
    }
  }
  function unzoom() { zoom(all[0]); }
  function search() {
    var re = prompt('Regular expression to highlight:', '');
    if (re === null) return;
    var rx; try { rx = new RegExp(re); } catch (e) { return; }
    var spans = [];
    for (var i = 0; i < all.length; i++) {
      var g = all[i], r = g.getElementsByTagName('rect')[0];
      if (!g.hasAttribute('data-c')) g.setAttribute('data-c', r.getAttribute('fill'));
      var hit = re !== '' && rx.test(g.getAttribute('data-l'));
      r.setAttribute('fill', hit ? 'rgb(230,0,230)' : g.getAttribute('data-c'));
      if (hit) spans.push([+g.getAttribute('data-x'), +g.getAttribute('data-w')]);
    }
    spans.sort(function (a, b) { return a[0] - b[0]; });
    var covered = 0, end = -1;
    for (var k = 0; k < spans.length; k++) {
      var s = spans[k][0], e = s + spans[k][1];
      if (e <= end) continue;
      covered += e - Math.max(s, end); end = e;
    }
    var total = +all[0].getAttribute('data-w');
    matched.textContent = re === '' ? '' : 'Matched: ' + (100 * covered / total).toFixed(2) + '%';
  }
  frames.addEventListener('click', function (e) {
    var g = e.target.parentNode;
    if (g && g.hasAttribute && g.hasAttribute('data-x')) zoom(g);
  });
  frames.addEventListener('mouseover', function (e) {
    var g = e.target.parentNode;
    if (g && g.getElementsByTagName) {
      var t = g.getElementsByTagName('title')[0];
      if (t) details.textContent = t.textContent;
    }
  });
  document.getElementById('reset').addEventListener('click', unzoom);
  document.getElementById('search').addEventListener('click', search);
})();
)JS";

}  // namespace

std::string EscapeXml(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    switch (c) {
      case '&':
        out += "&amp;";
        ++i;
        continue;
      case '<':
        out += "&lt;";
        ++i;
        continue;
      case '>':
        out += "&gt;";
        ++i;
        continue;
      case '"':
        out += "&quot;";
        ++i;
        continue;
      case '\'':
        out += "&apos;";
        ++i;
        continue;
      default:
        break;
    }
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
      out.push_back('?');  // not allowed in XML 1.0, even escaped
      ++i;
      continue;
    }
    size_t n = Utf8Length(text, i);
    if (n == 0) {
      out.push_back('?');
      ++i;
      continue;
    }
    out.append(text.substr(i, n));
    i += n;
  }
  return out;
}

std::string RenderFlamegraphSvg(const ProfileData& data,
                                const FlamegraphOptions& options) {
  const int width = std::max(200, options.width);
  const int fh = std::max(8, options.frame_height);
  const int font = std::max(6, options.font_size);
  const double char_px = font * kCharWidth;
  const std::string title =
      options.title.empty() ? "CPU flamegraph" : options.title;

  // the call tree, root first; labels merge identical frames at one level
  std::vector<Node> nodes(1);
  nodes[0].label = "all";
  nodes[0].kind = NodeKind::kRoot;
  std::map<std::string, uint64_t> module_samples;
  for (const ProfileSample& s : data.samples) {
    if (s.count == 0) continue;
    nodes[0].count += s.count;
    size_t at = 0;
    auto descend = [&](std::string label, std::string module, NodeKind kind) {
      auto [it, inserted] = nodes[at].children.try_emplace(label, nodes.size());
      if (inserted) {
        Node n;
        n.label = std::move(label);
        n.module = std::move(module);
        n.kind = kind;
        nodes.push_back(std::move(n));
      }
      at = it->second;
      nodes[at].count += s.count;
    };
    if (options.stacks.split_by_pid) {
      descend(PidFrameLabel(data, s.pid), "", NodeKind::kSplit);
    }
    if (options.stacks.split_by_phase) {
      descend(absl::StrCat("phase ", catalogue::PhaseName(s.phase)), "",
              NodeKind::kSplit);
    }
    for (auto it = s.frames.rbegin(); it != s.frames.rend(); ++it) {
      if (*it >= data.frames.size()) continue;
      const Frame& f = data.frames[*it];
      NodeKind kind = f.kind == Frame::Kind::kKernel   ? NodeKind::kKernel
                      : f.kind == Frame::Kind::kMarker ? NodeKind::kMarker
                      : f.known()                      ? NodeKind::kUser
                                                       : NodeKind::kUnknown;
      descend(f.Label(), f.ModuleBaseName(), kind);
    }
    // self samples per module, for the legend
    if (!s.frames.empty() && s.frames[0] < data.frames.size()) {
      const Frame& leaf = data.frames[s.frames[0]];
      if (leaf.kind == Frame::Kind::kUser) {
        module_samples[leaf.ModuleBaseName()] += s.count;
      }
    }
  }
  const uint64_t total = nodes[0].count;

  // lay out depth-first; frames too narrow to see are left out
  struct Placed {
    size_t node;
    uint64_t offset;  // samples left of the frame
    int depth;
  };
  std::vector<Placed> placed;
  const double px_per_sample =
      total == 0 ? 0.0 : static_cast<double>(width - 2 * kPad) / total;
  int max_depth = 0;
  std::vector<Placed> todo = {{0, 0, 0}};
  while (!todo.empty()) {
    Placed p = todo.back();
    todo.pop_back();
    if (total > 0 &&
        nodes[p.node].count * px_per_sample < options.min_frame_px) {
      continue;
    }
    placed.push_back(p);
    max_depth = std::max(max_depth, p.depth);
    uint64_t offset = p.offset;
    std::vector<Placed> kids;
    for (const auto& [label, child] : nodes[p.node].children) {
      kids.push_back({child, offset, p.depth + 1});
      offset += nodes[child].count;
    }
    // reverse so the first child is placed first
    todo.insert(todo.end(), kids.rbegin(), kids.rend());
  }

  const int height = kHeader + (max_depth + 1) * fh + kFooter;
  std::string out;
  out.reserve(256 + placed.size() * 300);
  absl::StrAppendFormat(
      &out,
      "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
      "<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" "
      "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" data-width=\"%d\" "
      "data-pad=\"%d\" data-charw=\"%.3f\">\n",
      width, height, width, height, width, kPad, char_px);
  absl::StrAppend(&out, "<title>", EscapeXml(title), "</title>\n");
  const double seconds = absl::ToDoubleSeconds(data.end - data.start);
  const std::string subtitle = absl::StrFormat(
      "%d samples at %d Hz per CPU over %.1f s, %d process(es), window %s .. "
      "%s",
      total, data.frequency_hz, seconds, data.processes.size(),
      absl::FormatTime("%Y-%m-%d %H:%M:%S", data.start, absl::UTCTimeZone()),
      absl::FormatTime("%H:%M:%S UTC", data.end, absl::UTCTimeZone()));
  absl::StrAppend(&out, "<desc>", EscapeXml(subtitle), "</desc>\n");
  absl::StrAppendFormat(
      &out,
      "<style>text{font-family:Verdana,Helvetica,sans-serif;font-size:%dpx;"
      "fill:#000}#frames rect{stroke:#fff;stroke-width:0.5}"
      "#frames g:hover rect{stroke:#000}#frames g{cursor:pointer}"
      ".ctl{cursor:pointer;fill:#226}</style>\n",
      font);
  absl::StrAppendFormat(&out,
                        "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" "
                        "fill=\"#f8f8f4\"/>\n",
                        width, height);
  absl::StrAppendFormat(&out,
                        "<text x=\"%d\" y=\"24\" text-anchor=\"middle\" "
                        "style=\"font-size:%dpx\">%s</text>\n",
                        width / 2, font + 5, EscapeXml(title));
  absl::StrAppendFormat(&out, "<text x=\"%d\" y=\"44\">%s</text>\n", kPad,
                        EscapeXml(subtitle));
  if (options.script) {
    absl::StrAppendFormat(&out,
                          "<text id=\"reset\" class=\"ctl\" x=\"%d\" "
                          "y=\"24\">Reset zoom</text>\n",
                          kPad);
    absl::StrAppendFormat(&out,
                          "<text id=\"search\" class=\"ctl\" x=\"%d\" y=\"24\" "
                          "text-anchor=\"end\">Search</text>\n",
                          width - kPad);
    absl::StrAppendFormat(&out,
                          "<text id=\"matched\" x=\"%d\" y=\"44\" "
                          "text-anchor=\"end\"></text>\n",
                          width - kPad);
  }

  out += "<g id=\"frames\">\n";
  for (const Placed& p : placed) {
    const Node& n = nodes[p.node];
    const double x = kPad + p.offset * px_per_sample;
    const double w = n.count * px_per_sample;
    const int y = kHeader + (max_depth - p.depth) * fh;
    std::string tip = n.label;
    if (!n.module.empty() && n.kind != NodeKind::kUnknown) {
      absl::StrAppend(&tip, " [", n.module, "]");
    }
    absl::StrAppend(&tip, ": ", n.count, " samples, ", Percent(n.count, total));
    const std::string label = EscapeXml(n.label);
    absl::StrAppendFormat(
        &out,
        "<g data-x=\"%d\" data-w=\"%d\" data-d=\"%d\" data-l=\"%s\">"
        "<title>%s</title>"
        "<rect x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" rx=\"2\" "
        "fill=\"%s\"/>",
        p.offset, n.count, p.depth, label, EscapeXml(tip), x, y, w, fh - 1,
        Css(ColourOf(n)));
    // label: as many characters as fit, ".." when cut
    const int fits = static_cast<int>(std::floor((w - 6) / char_px));
    std::string text;
    if (fits >= 3) {
      text = n.label.size() <= static_cast<size_t>(fits)
                 ? n.label
                 : n.label.substr(0, fits - 2) + "..";
    }
    absl::StrAppendFormat(&out, "<text x=\"%.2f\" y=\"%d\">%s</text></g>\n",
                          x + 3, y + fh - 4, EscapeXml(text));
  }
  out += "</g>\n";

  // footer: details line, then the legend of the busiest modules (self time)
  const int footer_y = kHeader + (max_depth + 1) * fh;
  absl::StrAppendFormat(&out,
                        "<text id=\"details\" x=\"%d\" y=\"%d\"> </text>\n",
                        kPad, footer_y + 16);
  std::vector<std::pair<uint64_t, std::string>> legend;
  legend.reserve(module_samples.size());
  for (const auto& [module, count] : module_samples) {
    legend.push_back({count, module});
  }
  std::sort(legend.begin(), legend.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  double lx = kPad;
  const size_t kLegendMax = 8;
  auto legend_item = [&](Rgb colour, const std::string& text) {
    const double w = 14 + text.size() * char_px + 16;
    if (lx + w > width - kPad) return;
    absl::StrAppendFormat(
        &out,
        "<rect x=\"%.1f\" y=\"%d\" width=\"10\" height=\"10\" "
        "fill=\"%s\"/><text x=\"%.1f\" y=\"%d\">%s</text>\n",
        lx, footer_y + 26, Css(colour), lx + 14, footer_y + 35,
        EscapeXml(text));
    lx += w;
  };
  for (size_t i = 0; i < legend.size() && i < kLegendMax; ++i) {
    Node probe;
    probe.kind = NodeKind::kUser;
    probe.module = legend[i].second;
    probe.label = legend[i].second;
    legend_item(ColourOf(probe), absl::StrCat(legend[i].second, " ",
                                              Percent(legend[i].first, total)));
  }
  Node kernel;
  kernel.kind = NodeKind::kKernel;
  legend_item(ColourOf(kernel), "kernel");

  if (options.script) {
    out += "<script type=\"text/ecmascript\"><![CDATA[";
    out += kScript;
    out += "]]></script>\n";
  }
  out += "</svg>\n";
  return out;
}

}  // namespace resdb_trace::collector::profile
