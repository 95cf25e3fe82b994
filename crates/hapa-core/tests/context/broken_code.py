import json

def load(path: str) -> dict:
    with open(path) as f:
        return json.load(f)

def save(path: str, data: dict

def main():
    config = load("config.json")
    result = transform(config, $0
    print(

class Report:
    title: str
