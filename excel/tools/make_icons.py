"""Draw the add-in icons (excel/static/assets/icon-{16,32,64,80,128}.png).

Run once after changing the design: ``.venv/bin/python excel/tools/make_icons.py`` (needs Pillow,
a development-only tool; the PNGs are committed). The design: a rounded blue tile with three
rising bars, a spreadsheet chart of growing cost.
"""
from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parents[1] / "static" / "assets"
SIZES = (16, 32, 64, 80, 128)


def draw(size: int) -> Image.Image:
    scale = 8  # draw large, then downsample for smooth edges
    s = size * scale
    img = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((0, 0, s - 1, s - 1), radius=s // 5, fill=(16, 110, 190, 255))
    bar_w = s // 6
    gap = s // 12
    left = (s - (3 * bar_w + 2 * gap)) // 2
    base = int(s * 0.8)
    for i, h in enumerate((0.25, 0.42, 0.6)):
        x = left + i * (bar_w + gap)
        d.rectangle((x, base - int(s * h), x + bar_w, base), fill=(255, 255, 255, 255))
    return img.resize((size, size), Image.LANCZOS)


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for n in SIZES:
        draw(n).save(OUT / f"icon-{n}.png", optimize=True)
        print(OUT / f"icon-{n}.png")
