#pragma once
// 8-bit PNG output (grey or RGB) for overlays, previews and reports.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace spinescan {

struct RgbImage {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // row-major, 3 bytes per pixel
  RgbImage() = default;
  RgbImage(int w, int h) : width(w), height(h), rgb(static_cast<size_t>(w) * h * 3, 0) {}
  void set(int x, int y, uint8_t r, uint8_t g, uint8_t b) {
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    const size_t i = (static_cast<size_t>(y) * width + x) * 3;
    rgb[i] = r;
    rgb[i + 1] = g;
    rgb[i + 2] = b;
  }
  // Unfilled rectangle outline, corners inclusive, clipped to the image.
  void draw_rect(int x0, int y0, int x1, int y1, uint8_t r, uint8_t g, uint8_t b, int thickness = 1);
  // Text in a 5x7-pixel font (digits, A-Z, lower case shown as upper, . - : ? = ( ) / % ,;
  // others as '?'), each font pixel drawn as scale x scale, with a one-pixel black outline so
  // it reads on any grey. (x, y) is the top left corner; clipped to the image.
  void draw_text(int x, int y, const std::string& text, uint8_t r, uint8_t g, uint8_t b, int scale = 2);
  // Width in pixels that draw_text takes for `text` at `scale`.
  static int text_width(const std::string& text, int scale = 2);
  // Copies `other` to the right of this image (heights may differ; the rest stays black).
  static RgbImage side_by_side(const RgbImage& left, const RgbImage& right, int gap = 4);
};

// Grey image from floats in [0, 1] (row-major width*height).
RgbImage grey_to_rgb(const std::vector<float>& grey01, int width, int height);

// Writes atomically; throws Error on failure.
void write_png(const std::filesystem::path& path, const RgbImage& image);

}  // namespace spinescan
