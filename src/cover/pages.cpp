#include "cover/pages.h"

namespace culvert {
namespace {

constexpr std::string_view kModified = "Tue, 14 Oct 2025 08:12:40 GMT";

constexpr std::string_view kStyle = R"(body{margin:0;font:17px/1.6 Georgia,serif;color:#222;background:#fbfaf7}
header,main,footer{max-width:42rem;margin:0 auto;padding:0 1rem}
header{padding-top:2rem;border-bottom:1px solid #ddd}
header a{color:#222;text-decoration:none}
nav a{margin-right:1rem;font:15px sans-serif;color:#555}
h1{font-weight:normal;margin:.2rem 0}
article{margin:2rem 0}
article time{font:14px sans-serif;color:#777}
footer{font:13px sans-serif;color:#888;padding:2rem 1rem}
)";

constexpr std::string_view kIndex = R"(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Ridgeline Notes</title>
<link rel="stylesheet" href="/style.css">
</head>
<body>
<header>
<h1><a href="/">Ridgeline Notes</a></h1>
<nav><a href="/">Journal</a><a href="/routes.html">Routes</a><a href="/about.html">About</a></nav>
</header>
<main>
<article>
<h2>Late light on the eastern ridge</h2>
<time datetime="2025-10-12">12 October 2025</time>
<p>We left the hut an hour later than planned and reached the saddle just as the valley filled with
cloud. The last twenty minutes of sun turned the scree the colour of rust. Notes on the descent,
which took longer than it should have, are on the routes page.</p>
</article>
<article>
<h2>Choosing a lens for long days</h2>
<time datetime="2025-09-03">3 September 2025</time>
<p>After three seasons of carrying two zooms I have gone back to a single 35mm prime. It forces a
slower way of walking and looking, and saves almost a kilogram on steep ground.</p>
</article>
<article>
<h2>Water, weather and the first snow</h2>
<time datetime="2025-08-18">18 August 2025</time>
<p>The spring below the north face was dry this year for the first time in our records. If you plan
the traverse, carry enough for the whole day and check the forecast the night before.</p>
</article>
</main>
<footer>Photographs and text by the author. Please ask before reusing them.</footer>
</body>
</html>
)";

constexpr std::string_view kAbout = R"(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>About - Ridgeline Notes</title>
<link rel="stylesheet" href="/style.css">
</head>
<body>
<header>
<h1><a href="/">Ridgeline Notes</a></h1>
<nav><a href="/">Journal</a><a href="/routes.html">Routes</a><a href="/about.html">About</a></nav>
</header>
<main>
<h2>About</h2>
<p>This is a small journal of walks, climbs and the photographs that came back with them. It has no
advertising and no tracking. New entries appear when the weather allows.</p>
</main>
<footer>Photographs and text by the author. Please ask before reusing them.</footer>
</body>
</html>
)";

constexpr std::string_view kRoutes = R"(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Routes - Ridgeline Notes</title>
<link rel="stylesheet" href="/style.css">
</head>
<body>
<header>
<h1><a href="/">Ridgeline Notes</a></h1>
<nav><a href="/">Journal</a><a href="/routes.html">Routes</a><a href="/about.html">About</a></nav>
</header>
<main>
<h2>Routes</h2>
<ul>
<li>Eastern ridge traverse: 14 km, 1,150 m ascent, a long day with one exposed step.</li>
<li>Lake circuit from the lower car park: 9 km, gentle, good in any season.</li>
<li>North face approach to the hut: 6 km, steep, snow until late June.</li>
</ul>
</main>
<footer>Photographs and text by the author. Please ask before reusing them.</footer>
</body>
</html>
)";

constexpr std::string_view kRobots = "User-agent: *\nDisallow:\n";

constexpr CoverPage kPages[] = {
    {"/", "text/html", kModified, kIndex},           {"/index.html", "text/html", kModified, kIndex},
    {"/about.html", "text/html", kModified, kAbout}, {"/routes.html", "text/html", kModified, kRoutes},
    {"/style.css", "text/css", kModified, kStyle},   {"/robots.txt", "text/plain", kModified, kRobots},
};

}  // namespace

std::span<const CoverPage> cover_files() { return std::span<const CoverPage>(kPages).subspan(1); }

std::int64_t cover_modified_time() { return 1760429560; }  // kModified

const CoverPage* find_cover_page(std::string_view path) {
  for (const auto& page : kPages)
    if (page.path == path) return &page;
  return nullptr;
}

}  // namespace culvert
