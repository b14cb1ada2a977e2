"""Hand-checked CIFAR class name -> WordNet 3.0 noun synset tables.

Each entry was chosen by reading the definitions of every noun sense (tests pin the tricky ones
by their definition). Traps: ``ray`` is the fish (ray.n.07, not a beam of light), ``seal`` the
mammal (seal.n.09), ``mouse`` the rodent, ``tank`` the armoured vehicle, ``plain`` the land,
``aquarium_fish`` has no synset (goldfish.n.01, the typical aquarium fish), ``television`` is the
receiver, ``boy``/``girl`` are children (male_child / female_child), ``couch`` is sofa.n.01,
``maple_tree``/``oak_tree``/``palm_tree``/``pine_tree``/``willow_tree`` are the tree senses of
the genus names, ``possum`` is the American opossum, ``automobile`` is car.n.01.
"""
from __future__ import annotations

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

CIFAR100_CLASSES = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle", "bowl", "boy",
    "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle", "chair", "chimpanzee", "clock",
    "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish",
    "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom", "oak_tree", "orange",
    "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree", "plain", "plate", "poppy", "porcupine",
    "possum", "rabbit", "raccoon", "ray", "road", "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk",
    "skyscraper", "snail", "snake", "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank",
    "telephone", "television", "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale",
    "willow_tree", "wolf", "woman", "worm",
)

SYNSETS = {
    # CIFAR-10
    "airplane": "airplane.n.01", "automobile": "car.n.01", "bird": "bird.n.01", "cat": "cat.n.01",
    "deer": "deer.n.01", "dog": "dog.n.01", "frog": "frog.n.01", "horse": "horse.n.01", "ship": "ship.n.01",
    "truck": "truck.n.01",
    # CIFAR-100
    "apple": "apple.n.01", "aquarium_fish": "goldfish.n.01", "baby": "baby.n.01", "bear": "bear.n.01",
    "beaver": "beaver.n.07", "bed": "bed.n.01", "bee": "bee.n.01", "beetle": "beetle.n.01",
    "bicycle": "bicycle.n.01", "bottle": "bottle.n.01", "bowl": "bowl.n.01", "boy": "male_child.n.01",
    "bridge": "bridge.n.01", "bus": "bus.n.01", "butterfly": "butterfly.n.01", "camel": "camel.n.01",
    "can": "can.n.01", "castle": "castle.n.02", "caterpillar": "caterpillar.n.01", "cattle": "cattle.n.01",
    "chair": "chair.n.01", "chimpanzee": "chimpanzee.n.01", "clock": "clock.n.01", "cloud": "cloud.n.02",
    "cockroach": "cockroach.n.01", "couch": "sofa.n.01", "crab": "crab.n.01", "crocodile": "crocodile.n.01",
    "cup": "cup.n.01", "dinosaur": "dinosaur.n.01", "dolphin": "dolphin.n.02", "elephant": "elephant.n.01",
    "flatfish": "flatfish.n.02", "forest": "forest.n.01", "fox": "fox.n.01", "girl": "female_child.n.01",
    "hamster": "hamster.n.01", "house": "house.n.01", "kangaroo": "kangaroo.n.01", "keyboard": "keyboard.n.01",
    "lamp": "lamp.n.02", "lawn_mower": "lawn_mower.n.01", "leopard": "leopard.n.02", "lion": "lion.n.01",
    "lizard": "lizard.n.01", "lobster": "lobster.n.02", "man": "man.n.01", "maple_tree": "maple.n.02",
    "motorcycle": "motorcycle.n.01", "mountain": "mountain.n.01", "mouse": "mouse.n.01",
    "mushroom": "mushroom.n.02", "oak_tree": "oak.n.02", "orange": "orange.n.01", "orchid": "orchid.n.01",
    "otter": "otter.n.02", "palm_tree": "palm.n.03", "pear": "pear.n.01", "pickup_truck": "pickup.n.01",
    "pine_tree": "pine.n.01", "plain": "plain.n.01", "plate": "plate.n.04", "poppy": "poppy.n.01",
    "porcupine": "porcupine.n.01", "possum": "opossum.n.02", "rabbit": "rabbit.n.01", "raccoon": "raccoon.n.02",
    "ray": "ray.n.07", "road": "road.n.01", "rocket": "rocket.n.01", "rose": "rose.n.01", "sea": "sea.n.01",
    "seal": "seal.n.09", "shark": "shark.n.01", "shrew": "shrew.n.02", "skunk": "skunk.n.04",
    "skyscraper": "skyscraper.n.01", "snail": "snail.n.01", "snake": "snake.n.01", "spider": "spider.n.01",
    "squirrel": "squirrel.n.01", "streetcar": "streetcar.n.01", "sunflower": "sunflower.n.01",
    "sweet_pepper": "sweet_pepper.n.02", "table": "table.n.02", "tank": "tank.n.01",
    "telephone": "telephone.n.01", "television": "television_receiver.n.01", "tiger": "tiger.n.02",
    "tractor": "tractor.n.01", "train": "train.n.01", "trout": "trout.n.02", "tulip": "tulip.n.01",
    "turtle": "turtle.n.02", "wardrobe": "wardrobe.n.01", "whale": "whale.n.02", "willow_tree": "willow.n.01",
    "wolf": "wolf.n.01", "woman": "woman.n.01", "worm": "worm.n.01",
}

#: SMART §3.2's list of the classes semantically closest to CIFAR-100 'train' (the paper's words)
PAPER_TRAIN_NEIGHBOURS = ("bus", "bicycle", "bridge", "motorcycle", "road", "pickup_truck", "camel", "elephant",
                          "lawn_mower", "mountain")


def synset_name(class_name: str) -> str:
    """The WordNet synset name of a CIFAR class (e.g. ``'ray'`` -> ``'ray.n.07'``)."""
    try:
        return SYNSETS[class_name]
    except KeyError:
        raise ValueError(f"no WordNet synset known for class {class_name!r}; known: CIFAR-10 and CIFAR-100 names")
