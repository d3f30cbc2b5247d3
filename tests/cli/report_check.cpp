// Checks report directories the way a user's script would, from the files alone:
//   report_check identity DIR...      every queries.csv/steps.csv pair under DIR satisfies
//                                     f_final = f_initial + sum F1 + sum F2 + sum R2 to 1e-10
//                                     (relative) and matches its steps.csv sums
//   report_check pages DIR...         every index.html under DIR links only files that exist in the
//                                     report (images and pages) and nothing on the network
//   report_check slopes FILE LO1 HI1 LO2 HI2 LIMIT
//                                     the sweep CSV's log-log slopes of rel_error_first and
//                                     rel_error_second over rows with lr_times_lambda <= LIMIT
//                                     lie in [LO1, HI1] and [LO2, HI2]
// Exit status 0 when every check holds; each failure is printed.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {
int failures = 0;

void fail(const std::string& what) {
  std::fprintf(stderr, "FAIL: %s\n", what.c_str());
  ++failures;
}

// Rows of a CSV file as maps from column name to cell text.
std::vector<std::map<std::string, std::string>> read_csv(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::map<std::string, std::string>> rows;
  std::string line;
  if (!std::getline(in, line)) {
    fail(path.string() + ": empty");
    return rows;
  }
  std::vector<std::string> header;
  std::stringstream hs(line);
  for (std::string cell; std::getline(hs, cell, ',');) header.push_back(cell);
  while (std::getline(in, line)) {
    std::map<std::string, std::string> row;
    std::stringstream ls(line);
    std::size_t i = 0;
    std::string cell;
    while (std::getline(ls, cell, ',')) row[header.at(i++)] = cell;
    while (i < header.size()) row[header[i++]] = "";  // trailing empty cells
    rows.push_back(row);
  }
  return rows;
}

double number(const std::string& s) { return s.empty() ? NAN : std::strtod(s.c_str(), nullptr); }

void check_identity(const fs::path& dir) {
  const auto steps = read_csv(dir / "steps.csv");
  const auto queries = read_csv(dir / "queries.csv");
  const std::vector<std::string> step_columns{"step",       "query",       "output",       "lr",
                                              "df",         "first_order", "second_order", "remainder1",
                                              "remainder2", "complex",     "exact_error",  "sharpness"};
  if (!steps.empty())
    for (const auto& c : step_columns)
      if (!steps[0].count(c)) fail((dir / "steps.csv").string() + ": no column " + c);
  std::map<std::pair<std::string, std::string>, double> f1, f2, r2;
  for (const auto& r : steps) {
    const auto key = std::make_pair(r.at("query"), r.at("output"));
    const double second = number(r.at("second_order"));
    const double rem2 = number(r.at("remainder2"));
    f1[key] += number(r.at("first_order"));
    if (!std::isnan(second)) f2[key] += second;
    // Where F2 was not computed, R2 is empty and the step's remainder is R1.
    r2[key] += std::isnan(rem2) ? number(r.at("remainder1")) : rem2;
    const double df = number(r.at("df"));
    const double r1 = number(r.at("remainder1"));
    if (std::abs(df - number(r.at("first_order")) - r1) > 1e-12 * std::max(1.0, std::abs(df)))
      fail((dir / "steps.csv").string() + ": remainder1 != df - first_order at step " + r.at("step"));
  }
  for (const auto& q : queries) {
    const auto key = std::make_pair(q.at("query"), q.at("output"));
    const double f0 = number(q.at("f_initial")), fn = number(q.at("f_final"));
    const double rebuilt = f0 + f1[key] + f2[key] + r2[key];
    const double scale = std::max({std::abs(f0), std::abs(fn), 1.0});
    if (!(std::abs(rebuilt - fn) <= 1e-10 * scale))
      fail((dir / "queries.csv").string() + ": run identity fails for query " + key.first + " by " +
           std::to_string(std::abs(rebuilt - fn) / scale));
    if (!(std::abs(number(q.at("sum_first_order")) - f1[key]) <= 1e-10 * scale))
      fail((dir / "queries.csv").string() + ": sum_first_order disagrees with steps.csv");
  }
  if (queries.empty()) fail((dir / "queries.csv").string() + ": no rows");
}

// Every src= and href= of an index page must name a file of the report, never a URL: the page is
// read offline.
void check_page(const fs::path& page) {
  std::ifstream in(page);
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string html = buffer.str();
  if (html.find("<html") == std::string::npos || html.find("</html>") == std::string::npos)
    fail(page.string() + ": not a complete HTML document");
  int links = 0;
  for (const std::string attribute : {"src=\"", "href=\""}) {
    for (std::size_t at = html.find(attribute); at != std::string::npos; at = html.find(attribute, at + 1)) {
      const std::size_t begin = at + attribute.size(), end = html.find('"', begin);
      const std::string target = html.substr(begin, end - begin);
      ++links;
      if (target.find("://") != std::string::npos || target.rfind("//", 0) == 0)
        fail(page.string() + ": links to the network: " + target);
      else if (!fs::exists(page.parent_path() / target))
        fail(page.string() + ": links to a missing file: " + target);
    }
  }
  if (links == 0) fail(page.string() + ": shows no plots");
}

double slope(const std::vector<double>& x, const std::vector<double>& y) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  const double n = static_cast<double>(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double lx = std::log(x[i]), ly = std::log(y[i]);
    sx += lx, sy += ly, sxx += lx * lx, sxy += lx * ly;
  }
  return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr,
                 "usage: report_check identity DIR... | pages DIR... | slopes FILE LO1 HI1 LO2 HI2 LIMIT\n");
    return 2;
  }
  const std::string mode = argv[1];
  if (mode == "identity") {
    int reports = 0;
    for (int i = 2; i < argc; ++i)
      for (const auto& entry : fs::recursive_directory_iterator(argv[i]))
        if (entry.path().filename() == "queries.csv") {
          check_identity(entry.path().parent_path());
          ++reports;
        }
    if (reports == 0) fail("no report directories found");
    std::printf("checked %d reports\n", reports);
  } else if (mode == "pages") {
    int pages = 0;
    for (int i = 2; i < argc; ++i)
      for (const auto& entry : fs::recursive_directory_iterator(argv[i]))
        if (entry.path().filename() == "index.html") {
          check_page(entry.path());
          ++pages;
        }
    if (pages == 0) fail("no index.html found");
    std::printf("checked %d pages\n", pages);
  } else if (mode == "slopes" && argc == 8) {
    std::vector<double> lr, first, second;
    for (const auto& r : read_csv(argv[2])) {
      if (number(r.at("lr_times_lambda")) > std::atof(argv[7]) || r.at("status") != "completed") continue;
      lr.push_back(number(r.at("learning_rate")));
      first.push_back(number(r.at("rel_error_first")));
      second.push_back(number(r.at("rel_error_second")));
    }
    if (lr.size() < 3) fail("fewer than three runs below the learning-rate limit");
    const double s1 = slope(lr, first), s2 = slope(lr, second);
    std::printf("slopes: first order %.3f, second order %.3f\n", s1, s2);
    if (!(s1 >= std::atof(argv[3]) && s1 <= std::atof(argv[4]))) fail("first-order slope out of bounds");
    if (!(s2 >= std::atof(argv[5]) && s2 <= std::atof(argv[6]))) fail("second-order slope out of bounds");
  } else {
    std::fprintf(stderr, "report_check: unknown mode %s\n", mode.c_str());
    return 2;
  }
  return failures == 0 ? 0 : 1;
}
