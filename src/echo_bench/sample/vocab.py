"""Words and sentence templates of the sample posts (written for this project).

Each subject carries the image recipe that depicts it, each style the image
operation that imitates it, so that prompts and pictures agree.
"""

from __future__ import annotations

# --- text-to-image prompts ------------------------------------------------------

#: (subject text, short label, recipe).  The first six are also used, translated,
#: by the non-English posts (see ``FOREIGN``): keep their order.
SUBJECTS: tuple[tuple[str, str, dict], ...] = (
    ("a lighthouse on a rocky cliff at sunset", "a lighthouse", {"op": "scene", "theme": "sunset"}),
    ("a cozy wooden cabin in a snowy pine forest", "a snowy cabin", {"op": "scene", "theme": "snow"}),
    ("a neon-lit Tokyo alley on a rainy night", "a Tokyo alley", {"op": "scene", "theme": "city_night"}),
    ("an orange tabby cat wearing a tiny golden crown", "my cat", {"op": "object", "thing": "cat"}),
    ("a ceramic coffee mug with steam rising from it", "a coffee mug", {"op": "object", "thing": "mug"}),
    ("a tropical beach with turquoise water and one palm tree", "a beach", {"op": "scene", "theme": "beach"}),
    ("a quiet mountain lake at dawn", "a mountain lake", {"op": "scene", "theme": "dawn"}),
    ("a small village under a sky full of stars", "a village", {"op": "scene", "theme": "night"}),
    ("a misty forest path in late autumn", "a forest path", {"op": "scene", "theme": "forest"}),
    ("a desert highway with an old gas station", "a desert road", {"op": "scene", "theme": "desert"}),
    ("a futuristic city skyline in the afternoon", "a skyline", {"op": "scene", "theme": "city"}),
    ("a field of sunflowers under a big blue sky", "a sunflower field", {"op": "scene", "theme": "meadow"}),
    ("a pair of bright red sneakers", "my sneakers", {"op": "object", "thing": "sneaker", "color": [215, 35, 40]}),
    ("a glass perfume bottle on a marble table", "a perfume bottle", {"op": "object", "thing": "bottle"}),
    ("a friendly retro robot with round eyes", "a robot", {"op": "object", "thing": "robot"}),
    ("a vintage brass desk lamp", "a desk lamp", {"op": "object", "thing": "lamp"}),
    ("a potted monstera plant by a window", "a plant", {"op": "object", "thing": "plant"}),
    ("a compact electric car in pastel blue", "a little car", {"op": "object", "thing": "car"}),
    ("a three-layer strawberry birthday cake", "a cake", {"op": "object", "thing": "cake"}),
)

#: (style text, image operation).
STYLES: tuple[tuple[str, str], ...] = (
    ("in Studio Ghibli style", "ghibli"),
    ("in the style of a 1950s travel poster", "vintage"),
    ("as a claymation still", "clay"),
    ("as 16-bit pixel art", "pixel"),
    ("as a pencil sketch", "sketch"),
    ("in a soft watercolor style", "watercolor"),
    ("as a cyberpunk neon illustration", "neon"),
    ("photorealistic, shot on 35mm film", "none"),
    ("as an isometric 3D diorama", "clay"),
    ("as a chibi 3D figure", "clay"),
)

LIGHTING = (
    "golden hour lighting",
    "soft volumetric light",
    "dramatic rim lighting",
    "overcast, diffuse light",
    "warm candlelight",
    "cool blue moonlight",
)
COMPOSITION = ("wide angle", "close-up", "centered composition", "top-down view", "low angle shot", "rule of thirds")
EXTRAS = (
    "highly detailed",
    "muted pastel palette",
    "rich saturated colors",
    "no text",
    "shallow depth of field",
    "clean background",
    "cinematic mood",
)
MOODS = ("calm", "nostalgic", "playful", "mysterious", "cozy", "epic")

#: Text-to-image prompt templates; fields: subject, style, lighting, composition, extra, mood.
T2I_TEMPLATES = (
    "{Subject} {style}, {lighting}, {composition}, {extra}.",
    "Create an image of {subject} {style}. {Lighting}. {Extra}.",
    "{Subject}, {style}, {lighting}, {composition}",
    "Generate a picture of {subject} {style}. Use {lighting} and a {mood} mood. {Extra}.",
    "Scene: {subject}. Style: {style}. Lighting: {lighting}. Camera: {composition}. Mood: {mood}.",
)

# --- captions -------------------------------------------------------------------

PROMPT_SHARE_CAPTIONS = (
    "{prompt}",
    "{prompt}",
    "GPT-4o image gen is unreal. Prompt:\n\n{prompt}",
    'ChatGPT\'s new image model nailed this one 🤯\n\nPrompt: "{prompt}"',
    "Made with 4o image generation.\nPrompt 👉 {prompt}",
    "{prompt}\n\n#GPT4o #ChatGPT #AIart",
    "Prompt (works great in ChatGPT 4o):\n{prompt}",
)
PROMPT_BELOW_CAPTIONS = (
    "ChatGPT 4o turned {label} into this and I can't stop looking at it. Prompt below 👇",
    "4o image gen keeps surprising me. Prompt in the reply 👇",
    "This is 100% GPT-4o, no edits. Full prompt below ⬇️",
    "New favorite 4o prompt: {label}. Try it yourself 👇",
)
PROMPT_BELOW_REPLIES = ("Prompt:\n{prompt}", "{prompt}", 'Here you go:\n\n"{prompt}"')
MORE_OUTPUTS_REPLIES = (
    "One more with the same prompt 👇",
    "Another run, slightly different:",
    "Second try came out even better",
)

# --- fill-in-the-blank templates ------------------------------------------------

#: (template with its blank, the blank token, values, recipe of the filled image).
FILL_TEMPLATES: tuple[tuple[str, str, tuple[str, ...], dict], ...] = (
    (
        "Create a 3D collectible action figure of [SUBJECT] in a clear blister pack, "
        "accessories on the card, studio lighting.",
        "[SUBJECT]",
        ("a barista", "a firefighter", "a software engineer", "a marathon runner", "a beekeeper"),
        {"op": "object", "thing": "figure"},
    ),
    (
        "A cozy isometric room for <object> lovers, miniature diorama, soft warm lighting, 3D render.",
        "<object>",
        ("coffee", "books", "plants", "vinyl records", "cats"),
        {"op": "object", "thing": "plant"},
    ),
    (
        "Turn [YOUR PET] into a Renaissance oil painting portrait with a velvet cape and dark background.",
        "[YOUR PET]",
        ("my cat", "my orange cat", "our kitten"),
        {"op": "style", "style": "vintage", "src": {"op": "object", "thing": "cat"}},
    ),
    (
        "A minimalist product shot of <product> floating above a pastel gradient, soft shadows, 4k.",
        "<product>",
        ("a red sneaker", "a perfume bottle", "a coffee mug"),
        {"op": "object", "thing": "sneaker"},
    ),
    (
        "Vintage travel poster of {CITY} at dusk, flat colors, bold geometric shapes, grain texture.",
        "{CITY}",
        ("Lisbon", "Kyoto", "Reykjavik", "Marrakesh"),
        {"op": "style", "style": "vintage", "src": {"op": "scene", "theme": "city"}},
    ),
)
#: Fill values whose recipe differs from the template default.
FILL_VALUE_RECIPES = {
    "a perfume bottle": {"op": "object", "thing": "bottle"},
    "a coffee mug": {"op": "object", "thing": "mug"},
    "cats": {"op": "object", "thing": "cat"},
    "coffee": {"op": "object", "thing": "mug"},
}
FILL_CAPTIONS = (
    "Template prompt for 4o, swap in your own subject:\n\n{prompt}",
    "This ChatGPT prompt works with anything. Replace the blank 👇\n\n{prompt}",
    "{prompt}\n\n(I used {value}) #GPT4o",
)

# --- edits ------------------------------------------------------------------------

#: (instruction, style operation) for photos of scenes and objects.
EDIT_INSTRUCTIONS: tuple[tuple[str, str], ...] = (
    ("Turn this photo into Studio Ghibli style", "ghibli"),
    ("Make it look like a vintage 1970s photograph", "vintage"),
    ("Redraw this as 16-bit pixel art", "pixel"),
    ("Convert this into a pencil sketch", "sketch"),
    ("Make it winter and cover everything in snow", "winter"),
    ("Turn this into a claymation still", "clay"),
    ("Give it a cyberpunk neon look at night", "neon"),
    ("Turn this into a soft watercolor painting", "watercolor"),
)
#: Portrait edits use styles that keep a face recognizable.
PORTRAIT_INSTRUCTIONS: tuple[tuple[str, str], ...] = (
    ("Turn me into a Studio Ghibli character", "ghibli"),
    ("Make a Pixar-style 3D avatar of this person", "clay"),
    ("Make this a professional LinkedIn headshot", "headshot"),
    ("Make this portrait look like a 1970s film photo", "vintage"),
    ("Paint me as a watercolor portrait", "watercolor"),
)
KEEP_FACE = (" Keep my face exactly the same.", " Don't change the face.", "")
EDIT_PAIR_CAPTIONS = (
    'Asked ChatGPT 4o: "{instr}". First image is the original, second is the result.',
    "4o image editing is nuts. Original vs edited.\nPrompt: {instr}",
    'Gave 4o my photo with the prompt "{instr}" 😳',
)
EDIT_PAIR_REVERSED_CAPTIONS = ("ChatGPT 4o result first, original second. Prompt: {instr}",)
COMPOSITE_CAPTIONS = (
    "Before / after with GPT-4o. Prompt: {instr}",
    'Left: my photo. Right: ChatGPT after "{instr}"',
    "4o edit in one try 🤯 {instr}",
)
MULTI_INSTRUCTIONS: tuple[tuple[str, str], ...] = (
    ("Put the {thing} from the first image into the scene of the second image", "{thing}"),
    ("Combine these two: place the {thing} in this {place}", "{thing}"),
    ("Make a product ad with the {thing} from image 1 set in the landscape of image 2", "{thing}"),
)
MULTI_CAPTIONS = ("4o can combine images now. Prompt: {instr}", 'Two photos in, one out. ChatGPT 4o: "{instr}"')
SCREENSHOT_CAPTIONS = (
    "ChatGPT just did this from one sentence 🤯",
    "I can't believe 4o can do this now",
    "Asked ChatGPT to edit my photo and look",
    "the new image gen in chatgpt is wild",
)

# --- text rendering ------------------------------------------------------------------

REQUESTED_TEXTS = (
    "GRAND OPENING",
    "OPEN 24 HOURS",
    "FRESH COFFEE",
    "HAPPY BIRTHDAY MIA",
    "SALE 50% OFF",
    "WELCOME HOME",
    "MOON BAKERY",
    "LOST CAT",
    "KEEP OUT",
    "SUMMER FEST 2025",
    "GRAN INAUGURACIÓN",
    "CAFÉ OUVERT",
)
#: (prompt template with {text}, rendering: poster | wood | neon | chalk).
TEXT_TEMPLATES: tuple[tuple[str, str], ...] = (
    ('A retro poster that says "{text}" in bold letters, flat colors, halftone texture.', "poster"),
    ('A wooden shop sign above a small storefront that reads "{text}", golden hour.', "wood"),
    ('A glowing neon sign on a brick wall reading "{text}", night, photorealistic.', "neon"),
    ('A chalkboard with the words "{text}" written in white chalk.', "chalk"),
    ('Minimal typographic poster with the text "{text}" centered, high contrast.', "poster"),
)
TEXT_CAPTIONS = (
    "Finally an image model that can spell. GPT-4o:\n\n{prompt}",
    "4o text rendering test. Prompt: {prompt}",
    "{prompt}\n\nChatGPT got the text on the first try",
)

# --- analysis chatter, other models, coincidences -------------------------------------

COMMENTARY = (
    "ChatGPT's new image gen is genuinely scary good. Illustrators are not ok",
    "Is it just me or does every 4o image have a yellow tint?",
    "The 4o image model is rate limited again 😩",
    "GPT-4o image generation finally gets text right. Game changer for mockups",
    "Hot take: 4o image gen follows instructions better than anything else, aesthetics are another story",
    "Still can't get 4o to keep my face the same when editing photos",
    "Why does chatgpt keep cropping my images to a square??",
    "Spent the whole weekend making 4o images of my dog. No regrets",
)
#: (model name, caption template with {prompt}).
OTHER_MODELS: tuple[tuple[str, str], ...] = (
    ("Midjourney", "Made with Midjourney v7, not ChatGPT 4o 🙃 prompt: {prompt}"),
    ("Flux", "Flux Kontext does this better than 4o imo. Prompt: {prompt}"),
    ("Imagen", "Imagen 4 vs GPT-4o, same prompt. This is the Imagen one: {prompt}"),
    ("Ideogram", "Tried this in Ideogram since chatgpt kept refusing: {prompt}"),
    ("Stable Diffusion", "SDXL + ControlNet, no 4o involved: {prompt}"),
    ("DALL-E 3", "Old DALL-E 3 output from before the 4o update, still like it. {prompt}"),
)
#: (text, the query keyword that appears by coincidence, relevance 1-5).
COINCIDENTAL: tuple[tuple[str, str, int], ...] = (
    ("Test drove the new Kestrel 4o hatchback today. Smooth ride, terrible cupholders", "4o", 1),
    ("It's going to be 4o°C in Seville this weekend, stay hydrated", "4o", 1),
    ("Route 4o bus was late again, third time this week", "4o", 1),
    ("Converted my boot drive from MBR to GPT and Windows finally installs", "gpt", 1),
    ("The GPT partition table on this USB stick is corrupted, any ideas?", "gpt", 1),
    ("Asked chatgpt to fix my SQL query and it invented a column lol", "chatgpt", 2),
    ("chatgpt wrote my cover letter and I got the interview", "chatgpt", 2),
    ("Need to create image backups of every VM before Friday's migration", "create image", 1),
    ("Our image gen step for the game's loot icons is just Photoshop actions and tears", "image gen", 1),
)

# --- replies --------------------------------------------------------------------------

#: Complaints per defect: (text, keywords that appear in it).
FAILURE_FEEDBACK: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "color": (
        ("why does everything have that yellow tint 😭", ("yellow", "tint")),
        ("the yellow cast on this is so strong", ("yellow", "cast")),
        ("nice but the colors are way too warm, looks like a sepia filter", ("warm", "sepia")),
        ("the color balance is off, it's all yellow", ("color balance", "yellow")),
    ),
    "identity": (
        ("that doesn't look like you at all", ("doesn't look like",)),
        ("it changed the face completely", ("face",)),
        ("lost the identity, that's a different person", ("identity", "different person")),
        ("cool style but the likeness is gone", ("likeness",)),
    ),
    "text": (
        ("the sign is misspelled lol", ("misspelled",)),
        ("look at the text, it says '{rendered}' not '{requested}'", ("text",)),
        ("text rendering still has typos", ("text", "typos")),
        ("garbled letters on the poster, so close", ("garbled", "letters")),
    ),
    "proportions": (
        ("why is it squished? wrong aspect ratio", ("squished", "aspect ratio")),
        ("the proportions are off, everything looks stretched", ("proportions", "stretched")),
        ("it changed the aspect ratio of my photo", ("aspect ratio",)),
    ),
    "coherency": (
        ("this doesn't make sense up close, things are duplicated", ("doesn't make sense", "duplicated")),
        ("weird artifacts and broken shapes everywhere", ("artifacts", "broken")),
        ("looks incoherent once you zoom in", ("incoherent",)),
    ),
}
#: Praise per aspect: (text, keywords).
PRAISE_FEEDBACK: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "general": (
        ("this is incredible, nailed it", ("incredible", "nailed it")),
        ("stunning, the lighting is perfect", ("stunning", "perfect")),
        ("wow, this is so good", ("so good",)),
    ),
    "identity": (
        ("wow it kept your face perfectly", ("kept", "face")),
        ("it really looks like you!", ("looks like you",)),
    ),
    "text": (
        ("the text is perfect, no typos!", ("text", "no typos")),
        ("spelled right on the first try 👏", ("spelled right",)),
    ),
    "color": (("colors look so natural", ("colors", "natural")),),
}
#: Replies that are not feedback on the result.
CHATTER = (
    "what app is this?",
    "does this work on the free plan?",
    "saving this 🔖",
    "how long did it take to generate?",
    "can you share the original photo?",
)
AUTHOR_ANSWERS = (
    "yeah 4o does that sometimes, rerolling helps",
    "thanks! took two tries",
    "ChatGPT app, the new image model",
)

# --- defects of an output and the feedback category that names them ---------------------

DEFECT_CATEGORY = {
    "yellow_cast": "color",
    "identity_lost": "identity",
    "text_error": "text",
    "aspect_ratio": "proportions",
    "incoherent": "coherency",
}

# --- non-English prompt shares -----------------------------------------------------------

#: language -> (subjects aligned with SUBJECTS[:6], styles aligned with FOREIGN_STYLE_OPS,
#: prompt template with {subject} and {style}, captions with {prompt}).
FOREIGN_STYLE_OPS = ("ghibli", "watercolor", "pixel", "clay")
FOREIGN: dict[str, tuple[tuple[str, ...], tuple[str, ...], str, tuple[str, ...]]] = {
    "ja": (
        (
            "夕暮れの崖に立つ灯台",
            "雪の森の中の小さな木の小屋",
            "雨の夜のネオン輝く東京の路地",
            "小さな王冠をかぶった茶トラ猫",
            "湯気の立つ陶器のマグカップ",
            "ターコイズ色の海が広がる南国のビーチ",
        ),
        ("ジブリ風", "水彩画風", "ピクセルアート風", "クレイアニメ風"),
        "{subject}を{style}で描いてください。やわらかい光、細部まで丁寧に。",
        ("GPT-4oの画像生成、すごすぎる…！\nプロンプト：{prompt}", "ChatGPTで作りました✨\n\n{prompt}"),
    ),
    "es": (
        (
            "un faro sobre un acantilado al atardecer",
            "una cabaña de madera en un bosque nevado",
            "una calle de Tokio con luces de neón en una noche lluviosa",
            "un gato atigrado con una pequeña corona",
            "una taza de cerámica con café humeante",
            "una playa tropical de agua turquesa",
        ),
        ("estilo Studio Ghibli", "acuarela suave", "pixel art de 16 bits", "plastilina (claymation)"),
        "Crea una imagen de {subject} en {style}, con luz cálida y mucho detalle.",
        ("Probando la generación de imágenes de GPT-4o 🤯\nPrompt: {prompt}", "ChatGPT 4o hizo esto:\n\n{prompt}"),
    ),
    "zh": (
        (
            "夕阳下悬崖上的灯塔",
            "雪林中的小木屋",
            "雨夜霓虹闪烁的东京街道",
            "戴着小皇冠的橘猫",
            "冒着热气的陶瓷咖啡杯",
            "碧绿海水的热带海滩",
        ),
        ("吉卜力风格", "水彩风格", "像素风格", "黏土动画风格"),
        "生成一张{style}的{subject}图片，柔和光线，细节丰富。",
        ("GPT-4o 生图太强了！提示词：\n{prompt}", "用 ChatGPT 做的，提示词如下：{prompt}"),
    ),
    "fr": (
        (
            "un phare sur une falaise au coucher du soleil",
            "une cabane en bois dans une forêt enneigée",
            "une rue de Tokyo illuminée de néons par une nuit pluvieuse",
            "un chat roux portant une petite couronne",
            "une tasse en céramique avec du café fumant",
            "une plage tropicale aux eaux turquoise",
        ),
        ("style Studio Ghibli", "aquarelle douce", "pixel art 16 bits", "pâte à modeler"),
        "Crée une image de {subject}, {style}, lumière douce, très détaillé.",
        ("La génération d'images de GPT-4o est bluffante 😮\nPrompt : {prompt}",),
    ),
    "de": (
        (
            "ein Leuchtturm auf einer Klippe bei Sonnenuntergang",
            "eine Holzhütte in einem verschneiten Wald",
            "eine neonbeleuchtete Straße in Tokio in einer regnerischen Nacht",
            "eine rote Tigerkatze mit einer kleinen Krone",
            "eine Keramiktasse mit dampfendem Kaffee",
            "ein tropischer Strand mit türkisfarbenem Wasser",
        ),
        ("im Studio-Ghibli-Stil", "als sanftes Aquarell", "als 16-Bit-Pixelart", "als Knetanimation"),
        "Erstelle ein Bild: {subject}, {style}, warmes Licht, viele Details.",
        ("GPT-4o Bildgenerierung ist verrückt. Prompt: {prompt}",),
    ),
    "ko": (
        (
            "노을 지는 절벽 위의 등대",
            "눈 덮인 숲속의 작은 통나무집",
            "비 오는 밤 네온이 빛나는 도쿄 거리",
            "작은 왕관을 쓴 치즈 고양이",
            "김이 나는 도자기 머그컵",
            "청록빛 바다가 펼쳐진 열대 해변",
        ),
        ("지브리 스타일", "수채화 스타일", "픽셀 아트 스타일", "클레이 애니메이션 스타일"),
        "{style}로 {subject}을(를) 그려줘. 부드러운 조명, 디테일하게.",
        ("GPT-4o 이미지 생성 미쳤다… 프롬프트: {prompt}",),
    ),
    "pt": (
        (
            "um farol sobre um penhasco ao pôr do sol",
            "uma cabana de madeira numa floresta nevada",
            "uma rua de Tóquio com luzes de neon numa noite chuvosa",
            "um gato laranja usando uma pequena coroa",
            "uma caneca de cerâmica com café fumegante",
            "uma praia tropical de água turquesa",
        ),
        ("estilo Studio Ghibli", "aquarela suave", "pixel art 16 bits", "massinha (claymation)"),
        "Crie uma imagem de {subject} em {style}, luz suave e muitos detalhes.",
        ("A geração de imagens do GPT-4o é absurda 🤯\nPrompt: {prompt}",),
    ),
}
FOREIGN_WEIGHTS = {"ja": 0.3, "es": 0.2, "zh": 0.2, "fr": 0.1, "de": 0.1, "ko": 0.05, "pt": 0.05}

# --- people -------------------------------------------------------------------------------

HANDLE_PARTS = (
    ("pixel", "neon", "lazy", "quantum", "tiny", "cosmic", "retro", "sunny", "midnight", "paper", "velvet", "rusty"),
    ("fox", "prompts", "lab", "studio", "owl", "brush", "wave", "artist", "maker", "byte", "dreams", "frames"),
)
FIRST_NAMES = (
    "Ana",
    "Kenji",
    "Li Wei",
    "Marta",
    "Sam",
    "Priya",
    "Jonas",
    "Aiko",
    "Diego",
    "Chloé",
    "Omar",
    "Hana",
    "Lukas",
    "Sofía",
    "Min-jun",
    "Tariq",
    "Elif",
    "Noah",
    "Yuki",
    "Zoë",
)
