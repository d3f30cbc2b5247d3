#include "apps/svg_plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace pk::app {

namespace {
constexpr double kWidth = 640, kHeight = 400;
constexpr double kLeft = 78, kRight = 20, kTop = 36, kBottom = 58;

std::string number(double v) {
  char buf[32];
  if (v != 0 && (std::abs(v) < 1e-3 || std::abs(v) >= 1e5))
    std::snprintf(buf, sizeof buf, "%.0e", v);
  else
    std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

struct Axis {
  double lo = 0, hi = 1;
  bool log = false;
  double map(double v, double a, double b) const {
    const double t = log ? (std::log10(v) - lo) / (hi - lo) : (v - lo) / (hi - lo);
    return a + t * (b - a);
  }
  bool usable(double v) const { return std::isfinite(v) && (!log || v > 0); }
};

// Bounds padded a little, in log10 units for a log axis; ticks at "nice" steps or decades.
Axis make_axis(const std::vector<double>& values, bool log) {
  Axis a;
  a.log = log;
  double lo = INFINITY, hi = -INFINITY;
  for (double v : values) {
    if (!a.usable(v)) continue;
    const double t = log ? std::log10(v) : v;
    lo = std::min(lo, t);
    hi = std::max(hi, t);
  }
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  if (hi - lo < 1e-12) {
    const double pad = std::max(std::abs(lo) * 0.1, log ? 0.5 : 1e-12);
    lo -= pad;
    hi += pad;
  }
  const double pad = 0.05 * (hi - lo);
  a.lo = lo - pad;
  a.hi = hi + pad;
  return a;
}

std::vector<double> ticks(const Axis& a) {
  std::vector<double> t;
  if (a.log) {
    const int step = std::max(1, static_cast<int>(std::ceil((a.hi - a.lo) / 7)));
    for (int e = static_cast<int>(std::ceil(a.lo)); e <= std::floor(a.hi); e += step)
      t.push_back(std::pow(10.0, e));
    return t;
  }
  const double raw = (a.hi - a.lo) / 6;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * mag) {
      step = m * mag;
      break;
    }
  for (double v = std::ceil(a.lo / step) * step; v <= a.hi + 1e-12 * step; v += step)
    t.push_back(std::abs(v) < 1e-12 * step ? 0.0 : v);
  return t;
}
}  // namespace

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

namespace {
// Legend entries laid out in rows above the plot area, so they never hide data.
struct LegendItem {
  std::string label, color;
  bool dashed, band, points_only;
};

std::vector<std::vector<LegendItem>> legend_rows(const Plot& p, double width) {
  std::vector<LegendItem> items;
  for (const Series& s : p.series) items.push_back({s.label, s.color, s.dashed, false, !s.line});
  if (!p.marked_x.empty() && !p.marked_label.empty())
    items.push_back({p.marked_label, "#d62728", false, true, false});
  std::vector<std::vector<LegendItem>> rows(1);
  double used = 0;
  for (const LegendItem& item : items) {
    const double w = 40 + 6.5 * static_cast<double>(item.label.size());
    if (used + w > width && !rows.back().empty()) {
      rows.emplace_back();
      used = 0;
    }
    rows.back().push_back(item);
    used += w;
  }
  if (rows.back().empty()) rows.pop_back();
  return rows;
}
}  // namespace

std::string render_svg(const Plot& p) {
  std::vector<double> xs, ys;
  for (const Series& s : p.series) {
    xs.insert(xs.end(), s.x.begin(), s.x.end());
    ys.insert(ys.end(), s.y.begin(), s.y.end());
  }
  ys.insert(ys.end(), p.horizontal_lines.begin(), p.horizontal_lines.end());
  const Axis ax = make_axis(xs, p.log_x), ay = make_axis(ys, p.log_y);
  const auto legend = legend_rows(p, kWidth - kLeft - kRight);
  const double legend_height = 16.0 * static_cast<double>(legend.size());
  const double height = kHeight + legend_height;
  const double x0 = kLeft, x1 = kWidth - kRight, y0 = height - kBottom, y1 = kTop + legend_height;
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\"" << height
    << "\" viewBox=\"0 0 " << kWidth << ' ' << height << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  o << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o << "<text x=\"" << kWidth / 2 << "\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">"
    << xml_escape(p.title) << "</text>\n";
  double ly = kTop + 8;
  for (const auto& row : legend) {
    double lx = x0;
    for (const LegendItem& item : row) {
      if (item.band)
        o << "<rect x=\"" << lx << "\" y=\"" << ly - 8 << "\" width=\"20\" height=\"8\" fill=\"" << item.color
          << "\" fill-opacity=\"0.3\"/>\n";
      else if (item.points_only)  // a series drawn as points only shows a point in the legend too
        o << "<circle cx=\"" << lx + 10 << "\" cy=\"" << ly - 4 << "\" r=\"3\" fill=\"" << item.color
          << "\"/>\n";
      else
        o << "<line x1=\"" << lx << "\" y1=\"" << ly - 4 << "\" x2=\"" << lx + 20 << "\" y2=\"" << ly - 4
          << "\" stroke=\"" << item.color << "\" stroke-width=\"2\""
          << (item.dashed ? " stroke-dasharray=\"5 3\"" : "") << "/>\n";
      o << "<text x=\"" << lx + 26 << "\" y=\"" << ly << "\">" << xml_escape(item.label) << "</text>\n";
      lx += 40 + 6.5 * static_cast<double>(item.label.size());
    }
    ly += 16;
  }
  for (double x : p.marked_x) {
    if (!ax.usable(x)) continue;
    const double px = ax.map(x, x0, x1);
    o << "<rect x=\"" << px - 1.5 << "\" y=\"" << y1 << "\" width=\"3\" height=\"" << y0 - y1
      << "\" fill=\"#d62728\" fill-opacity=\"0.15\"/>\n";
  }
  for (double t : ticks(ax)) {
    const double px = ax.map(t, x0, x1);
    o << "<line x1=\"" << px << "\" y1=\"" << y0 << "\" x2=\"" << px << "\" y2=\"" << y1
      << "\" stroke=\"#eee\"/>\n";
    o << "<text x=\"" << px << "\" y=\"" << y0 + 16 << "\" text-anchor=\"middle\">" << number(t)
      << "</text>\n";
  }
  for (double t : ticks(ay)) {
    const double py = ay.map(t, y0, y1);
    o << "<line x1=\"" << x0 << "\" y1=\"" << py << "\" x2=\"" << x1 << "\" y2=\"" << py
      << "\" stroke=\"#eee\"/>\n";
    o << "<text x=\"" << x0 - 6 << "\" y=\"" << py + 4 << "\" text-anchor=\"end\">" << number(t)
      << "</text>\n";
  }
  o << "<rect x=\"" << x0 << "\" y=\"" << y1 << "\" width=\"" << x1 - x0 << "\" height=\"" << y0 - y1
    << "\" fill=\"none\" stroke=\"#333\"/>\n";
  for (double h : p.horizontal_lines) {
    if (!ay.usable(h)) continue;
    const double py = ay.map(h, y0, y1);
    o << "<line x1=\"" << x0 << "\" y1=\"" << py << "\" x2=\"" << x1 << "\" y2=\"" << py
      << "\" stroke=\"#d62728\" stroke-dasharray=\"6 4\"/>\n";
  }
  for (const Series& s : p.series) {
    std::ostringstream path;
    bool pen_down = false;
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!ax.usable(s.x[i]) || !ay.usable(s.y[i])) {
        pen_down = false;
        continue;
      }
      path << (pen_down ? " L " : " M ") << ax.map(s.x[i], x0, x1) << ' ' << ay.map(s.y[i], y0, y1);
      pen_down = true;
    }
    if (s.line && !path.str().empty())
      o << "<path d=\"" << path.str() << "\" fill=\"none\" stroke=\"" << s.color << "\" stroke-width=\"1.8\""
        << (s.dashed ? " stroke-dasharray=\"5 3\"" : "") << "/>\n";
    if (s.markers)
      for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
        if (ax.usable(s.x[i]) && ay.usable(s.y[i]))
          o << "<circle cx=\"" << ax.map(s.x[i], x0, x1) << "\" cy=\"" << ay.map(s.y[i], y0, y1)
            << "\" r=\"3\" fill=\"" << s.color << "\"/>\n";
  }
  o << "<text x=\"" << (x0 + x1) / 2 << "\" y=\"" << height - 14 << "\" text-anchor=\"middle\">"
    << xml_escape(p.x_label) << "</text>\n";
  o << "<text transform=\"translate(18 " << (y0 + y1) / 2 << ") rotate(-90)\" text-anchor=\"middle\">"
    << xml_escape(p.y_label) << "</text>\n";
  o << "</svg>\n";
  return o.str();
}

std::string render_bars(const std::string& title, const std::vector<std::string>& labels,
                        const std::vector<double>& values, const std::string& value_label) {
  const double row = 22, top = 40, left = 110, right = 70;  // room for the value labels
  const double height = top + row * static_cast<double>(values.size()) + 40;
  double lo = 0, hi = 0;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (hi - lo <= 0) hi = lo + 1;
  auto map = [&](double v) { return left + (v - lo) / (hi - lo) * (kWidth - left - right); };
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\"" << height
    << "\" viewBox=\"0 0 " << kWidth << ' ' << height << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  o << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o << "<text x=\"" << kWidth / 2 << "\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">"
    << xml_escape(title) << "</text>\n";
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double y = top + row * static_cast<double>(i);
    const double a = map(std::min(0.0, values[i])), b = map(std::max(0.0, values[i]));
    o << "<text x=\"" << left - 8 << "\" y=\"" << y + 14 << "\" text-anchor=\"end\">" << xml_escape(labels[i])
      << "</text>\n";
    o << "<rect x=\"" << a << "\" y=\"" << y + 3 << "\" width=\"" << std::max(b - a, 0.5) << "\" height=\""
      << row - 6 << "\" fill=\"" << (values[i] < 0 ? "#d62728" : "#1f77b4") << "\"/>\n";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g", values[i]);
    o << "<text x=\"" << b + 4 << "\" y=\"" << y + 14 << "\">" << buf << "</text>\n";
  }
  o << "<line x1=\"" << map(0) << "\" y1=\"" << top << "\" x2=\"" << map(0) << "\" y2=\"" << height - 40
    << "\" stroke=\"#333\"/>\n";
  o << "<text x=\"" << (left + kWidth - right) / 2 << "\" y=\"" << height - 14 << "\" text-anchor=\"middle\">"
    << xml_escape(value_label) << "</text>\n</svg>\n";
  return o.str();
}

}  // namespace pk::app
