greeting = "héllo 😀" +
