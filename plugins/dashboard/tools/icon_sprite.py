#!/usr/bin/env python3
"""Makes assets/icons.svg, the repository icons' sprite, from Tabler's outline icons (MIT,
https://tabler.io/icons; the licence is in assets/icons.LICENSE): the icons BorgWarehouse 3.6's
picker offers (its Components/Repo/repoIcons.ts), so that an `icon` a BorgWarehouse client
sets shows here too. Each becomes a <symbol id="IconName">.

Also writes assets/icons.js, the picker's categories, from the same list (icon_categories.json).

    npm pack @tabler/icons@3.35.0 && tar xzf tabler-icons-3.35.0.tgz
    python3 tools/icon_sprite.py package/icons/outline
"""
import json
import re
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
categories = json.loads((here / "icon_categories.json").read_text())
outline = Path(sys.argv[1])
# The licence goes with the icons: in the sprite itself, which the server embeds and serves.
licence = (here.parent / "assets" / "icons.LICENSE").read_text().replace("--", "-")
out = ['<svg xmlns="http://www.w3.org/2000/svg">',
       f"<!-- Tabler Icons, https://tabler.io/icons\n\n{licence}-->"]
for category in categories:
    for name in category["icons"]:
        file = re.sub(r"(?<!^)(?=[A-Z])|(?<=[a-z])(?=[0-9])", "-", name[len("Icon"):]).lower() + ".svg"
        svg = (outline / file).read_text()
        body = svg[svg.index(">", svg.index("<svg")) + 1:svg.rindex("</svg>")]
        # The transparent frame each Tabler icon starts with draws nothing.
        body = body.replace('<path stroke="none" d="M0 0h24v24H0z" fill="none"/>', "")
        body = re.sub(r"\s+", " ", body).replace("> <", "><").replace(" />", "/>").strip()
        out.append(f'<symbol id="{name}" viewBox="0 0 24 24" fill="none" stroke="currentColor" '
                   f'stroke-width="2" stroke-linecap="round" stroke-linejoin="round">{body}</symbol>')
out.append("</svg>")
assets = here.parent / "assets"
(assets / "icons.svg").write_text("\n".join(out) + "\n")
(assets / "icons.js").write_text(
    "// The repository icons the picker offers, by category: BorgWarehouse 3.6's (Tabler icons,\n"
    "// drawn from icons.svg). Written by tools/icon_sprite.py from tools/icon_categories.json.\n\n"
    f"export const ICON_CATEGORIES = {json.dumps(categories)};\n\n"
    "export const ICONS = new Set(ICON_CATEGORIES.flatMap((c) => c.icons));\n")
